/**
 * Order-ticket rules, checked before anything is sent: tick and lot multiples, notional and fee
 * estimate, available balance, and the cases that need an explicit confirmation. Exact decimals only.
 */
import type { Market, OrderType, PlaceOrderRequest, Side, TimeInForce } from '../api/types.ts';
import {
  abs,
  add,
  cmp,
  dec,
  formatDecimal,
  isMultipleOf,
  isPositive,
  mul,
  mulBps,
  parseDecimal,
  percentChange,
  sub,
  floorToStep,
  type Dec,
} from './decimal.ts';

export interface TicketInput {
  side: Side;
  type: OrderType;
  quantity: string;
  price: string;
  timeInForce: TimeInForce;
  postOnly: boolean;
}

export interface TicketContext {
  market: Pick<Market, 'marketId' | 'tickSize' | 'lotSize' | 'baseAsset' | 'quoteAsset' | 'status' | 'makerFeeBps' | 'takerFeeBps'>;
  /** Last traded price (or the market's current price); null when the market never traded. */
  lastPrice: string | null;
  /** Available balances by asset (decimal strings); missing when not loaded yet. */
  available: Record<string, string>;
  /** Ask before sending a limit order priced further than this from the last price (percent). */
  priceDeviationPct?: number;
  /** Ask before sending an order whose notional (in the quote asset) is above this. */
  notionalThreshold?: string;
  /** Stop all orders (kill switch seen). */
  blockedReason?: string | null;
}

export const DEFAULT_PRICE_DEVIATION_PCT = 5;
export const DEFAULT_NOTIONAL_THRESHOLD = '100000';
/** Fee rate assumed when the market does not publish its own (basis points). */
export const DEFAULT_FEE_BPS = 10;

export type TicketField = 'quantity' | 'price' | 'timeInForce' | 'postOnly' | 'form';

export interface TicketResult {
  errors: Partial<Record<TicketField, string>>;
  warnings: string[];
  notional: Dec | null;
  fee: Dec | null;
  feeBps: number;
  feeAsset: string;
  /** The asset the order spends and how much of it is available. */
  spendAsset: string;
  available: Dec | null;
  /** Sentences explaining why the trader must confirm; empty when none. */
  confirmReasons: string[];
  /** The request body to send, only when there are no errors. */
  request: PlaceOrderRequest | null;
}

export function timeInForceOptions(type: OrderType): TimeInForce[] {
  return type === 'market' ? ['IOC', 'FOK'] : ['GTC', 'IOC', 'FOK'];
}

export function validateTicket(input: TicketInput, ctx: TicketContext): TicketResult {
  const { market } = ctx;
  const errors: Partial<Record<TicketField, string>> = {};
  const warnings: string[] = [];
  const confirmReasons: string[] = [];
  const tick = dec(market.tickSize);
  const lot = dec(market.lotSize);
  const last = parseDecimal(ctx.lastPrice);

  if (market.status === 'halted') errors.form = 'Trading is halted on this market.';
  if (ctx.blockedReason) errors.form = ctx.blockedReason;

  // quantity
  let qty: Dec | null = null;
  const qtyRaw = input.quantity.trim();
  if (qtyRaw === '') errors.quantity = 'Enter a quantity.';
  else {
    const q = parseDecimal(qtyRaw);
    if (!q || qtyRaw.startsWith('+')) errors.quantity = 'Quantity must be a plain decimal number, like 0.5.';
    else if (!isPositive(q)) errors.quantity = 'Quantity must be greater than zero.';
    else if (!isMultipleOf(q, lot)) {
      const lower = floorToStep(q, lot);
      errors.quantity = `Quantity must be a multiple of the lot size ${market.lotSize}${
        isPositive(lower) ? ` (for example ${formatDecimal(lower)})` : ''
      }.`;
    } else qty = q;
  }

  // price
  let price: Dec | null = null;
  if (input.type === 'limit') {
    const priceRaw = input.price.trim();
    if (priceRaw === '') errors.price = 'Enter a limit price.';
    else {
      const p = parseDecimal(priceRaw);
      if (!p || priceRaw.startsWith('+')) errors.price = 'Price must be a plain decimal number, like 101.25.';
      else if (!isPositive(p)) errors.price = 'Price must be greater than zero.';
      else if (!isMultipleOf(p, tick)) {
        const lower = floorToStep(p, tick);
        errors.price = `Price must be a multiple of the tick size ${market.tickSize}${
          isPositive(lower) ? ` (for example ${formatDecimal(lower)})` : ''
        }.`;
      } else price = p;
    }
  }

  // time in force and post-only
  if (!timeInForceOptions(input.type).includes(input.timeInForce))
    errors.timeInForce = `${input.timeInForce} is not available for ${input.type} orders.`;
  if (input.postOnly) {
    if (input.type === 'market') errors.postOnly = 'A market order cannot be post-only.';
    else if (input.timeInForce !== 'GTC') errors.postOnly = 'A post-only order must rest on the book (GTC).';
  }

  // notional and fee
  const refPrice = price ?? last;
  const notional = qty && refPrice ? mul(qty, refPrice) : null;
  const feeBps = input.postOnly
    ? (market.makerFeeBps ?? DEFAULT_FEE_BPS)
    : (market.takerFeeBps ?? DEFAULT_FEE_BPS);
  const fee = notional ? mulBps(notional, feeBps) : null;
  if (input.type === 'market' && !last) warnings.push('No last price yet: the notional cannot be estimated.');

  // available balance
  const spendAsset = input.side === 'buy' ? market.quoteAsset : market.baseAsset;
  const availableRaw = ctx.available[spendAsset];
  const available = availableRaw === undefined ? null : parseDecimal(availableRaw);
  if (available) {
    const needed = input.side === 'buy' ? (notional && fee ? add(notional, fee) : null) : qty;
    if (needed && cmp(needed, available) > 0)
      warnings.push(
        `This needs ${formatDecimal(needed)} ${spendAsset} but only ${formatDecimal(available)} ${spendAsset} is available; the order will likely be rejected.`,
      );
  }

  // confirmations
  const deviationPct = ctx.priceDeviationPct ?? DEFAULT_PRICE_DEVIATION_PCT;
  if (input.type === 'limit' && price && last && isPositive(last)) {
    const diff = abs(sub(price, last));
    // diff / last > pct / 100  ⇔  diff × 100 > pct × last
    if (cmp(mul(diff, dec('100')), mul(dec(String(deviationPct)), last)) > 0) {
      const pct = percentChange(last, price, 2);
      confirmReasons.push(
        `The price ${formatDecimal(price)} is ${pct ? formatDecimal(abs(pct)) : '?'} % ${
          cmp(price, last) > 0 ? 'above' : 'below'
        } the last price ${formatDecimal(last)}.`,
      );
    }
  }
  const threshold = dec(ctx.notionalThreshold ?? DEFAULT_NOTIONAL_THRESHOLD);
  if (notional && cmp(notional, threshold) > 0)
    confirmReasons.push(
      `The order is worth ${formatDecimal(notional, { group: true })} ${market.quoteAsset}, above ${formatDecimal(threshold, { group: true })} ${market.quoteAsset}.`,
    );

  const ok = Object.keys(errors).length === 0 && qty !== null && (input.type === 'market' || price !== null);
  let request: PlaceOrderRequest | null = null;
  if (ok && qty) {
    request = {
      marketId: market.marketId,
      side: input.side,
      type: input.type,
      quantity: formatDecimal(qty),
      timeInForce: input.timeInForce,
    };
    if (input.type === 'limit' && price) {
      request.price = formatDecimal(price);
      request.postOnly = input.postOnly;
    }
  }

  return {
    errors,
    warnings,
    notional,
    fee,
    feeBps,
    feeAsset: market.quoteAsset,
    spendAsset,
    available,
    confirmReasons,
    request,
  };
}
