/** Maker/taker fees: basis points of the notional, per market, rounded up to the next amount unit. */
import { feeUnits, notionalUnits } from '../numbers.ts';
import type { MarketSpec } from '../market/spec.ts';
import type { Liquidity } from '../events.ts';

export type FeeSchedule = Pick<MarketSpec, 'makerFeeBps' | 'takerFeeBps'>;

export function feeBps(schedule: FeeSchedule, liquidity: Liquidity): number {
  return liquidity === 'maker' ? schedule.makerFeeBps : schedule.takerFeeBps;
}

/** Fee in quote units on `notional` quote units for the given side of the trade (never under-charges). */
export function feeFor(schedule: FeeSchedule, liquidity: Liquidity, notional: bigint): bigint {
  return feeUnits(notional, feeBps(schedule, liquidity));
}

export interface TradeAmounts {
  /** Quote units: price × quantity, exact. */
  notional: bigint;
  takerFee: bigint;
  makerFee: bigint;
}

/** Notional and both fees of a trade of `lots` at `priceTicks` in market `spec`. */
export function tradeAmounts(spec: Pick<MarketSpec, 'tickSize' | 'lotSize' | 'makerFeeBps' | 'takerFeeBps'>, priceTicks: bigint, lots: bigint): TradeAmounts {
  const notional = notionalUnits(priceTicks, lots, spec.tickSize, spec.lotSize);
  return { notional, takerFee: feeFor(spec, 'taker', notional), makerFee: feeFor(spec, 'maker', notional) };
}

/** The larger of the two fee rates: what a buy reserves for, as it may fill as maker or taker. */
export function maxFeeBps(schedule: FeeSchedule): number {
  return Math.max(schedule.makerFeeBps, schedule.takerFeeBps);
}
