/**
 * Positions by the average-cost method, in integer units (base units and quote units at
 * AMOUNT_DECIMALS). Signed: a sell beyond the position opens a short at the fill price.
 *
 * - `cost` is the signed quote cost of the open quantity (negative for a short: proceeds).
 * - Closing q of an open quantity Q realizes (proceeds − cost share) where the cost share is
 *   cost·q/Q rounded toward zero; the rounding stays in the remaining cost, so once the position
 *   is flat, realized PnL is exactly total proceeds − total cost.
 * - Fees are not part of cost or realized PnL; they are tracked in `fees` (net = realized − fees).
 */
import type { Side } from '../events.ts';
import { divideToDecimal, parseFixed } from '../numbers.ts';
import { AMOUNT_DECIMALS } from '../numbers.ts';

export interface Position {
  /** Signed base units. */
  quantity: bigint;
  /** Signed quote units paid for the open quantity. */
  cost: bigint;
  /** Quote units realized by closing. */
  realizedPnl: bigint;
  /** Quote units of fees paid. */
  fees: bigint;
}

export interface PositionFill {
  side: Side;
  baseUnits: bigint;
  notional: bigint;
  fee: bigint;
}

export function flatPosition(): Position {
  return { quantity: 0n, cost: 0n, realizedPnl: 0n, fees: 0n };
}

export function applyFill(pos: Position, fill: PositionFill): Position {
  if (fill.baseUnits <= 0n) throw new RangeError('a fill moves a positive quantity');
  const dir = fill.side === 'buy' ? 1n : -1n;
  let { quantity, cost, realizedPnl } = pos;
  const fees = pos.fees + fill.fee;
  const opposite = quantity !== 0n && (quantity > 0n ? -1n : 1n) === dir;
  let closeQ = 0n;
  let closeNotional = 0n;
  if (opposite) {
    const open = quantity < 0n ? -quantity : quantity;
    closeQ = fill.baseUnits < open ? fill.baseUnits : open;
    closeNotional = closeQ === fill.baseUnits ? fill.notional : (fill.notional * closeQ) / fill.baseUnits;
    const share = closeQ === open ? cost : (cost * closeQ) / open;
    // long closed by a sell: proceeds − cost; short closed by a buy: (−cost share) − paid
    realizedPnl += dir === -1n ? closeNotional - share : -share - closeNotional;
    cost -= share;
    quantity += dir * closeQ;
  }
  const openQ = fill.baseUnits - closeQ;
  if (openQ > 0n) {
    quantity += dir * openQ;
    cost += dir * (fill.notional - closeNotional);
  }
  return { quantity, cost, realizedPnl, fees };
}

/** Average cost per base unit as a price (quote per base), or null when flat. */
export function averageCost(pos: Position, maxDecimals = 12): string | null {
  if (pos.quantity === 0n) return null;
  return divideToDecimal({ units: pos.cost, scale: AMOUNT_DECIMALS }, { units: pos.quantity, scale: AMOUNT_DECIMALS }, maxDecimals);
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
}

/** Quote units of the open quantity valued at `markPrice` (rounded down). */
export function markValue(pos: Position, markPrice: string): bigint {
  const mark = parseFixed(markPrice, 'markPrice');
  return floorDiv(pos.quantity * mark.units, 10n ** BigInt(mark.scale));
}

/** Unrealized PnL in quote units against `markPrice`: mark value − cost. */
export function unrealizedPnl(pos: Position, markPrice: string): bigint {
  return markValue(pos, markPrice) - pos.cost;
}

export function netRealizedPnl(pos: Position): bigint {
  return pos.realizedPnl - pos.fees;
}
