/**
 * Settlement of one fill: cash and instrument move between accounts and reservations are released.
 *
 * - Buyer: pays notional + fee out of the quote it reserved for the order, receives the base.
 *   The order's reservation share for this fill beyond what was paid (price improvement, fee
 *   rounding headroom, leftovers on the last fill) goes back to available.
 * - Seller: gives the base out of its reservation, receives notional − fee in quote.
 * - The venue collects both fees (in the quote asset).
 * Should a reservation share ever fall short of what a buyer pays, the rest comes out of
 * available (which may then go negative: that is a bug upstream, and it is visible).
 */
import type { Side } from '../events.ts';

export interface Balance {
  available: bigint;
  reserved: bigint;
}
export type Balances = ReadonlyMap<string, Balance>;

export const ZERO_BALANCE: Balance = Object.freeze({ available: 0n, reserved: 0n });

export function balanceOf(balances: Balances, asset: string): Balance {
  return balances.get(asset) ?? ZERO_BALANCE;
}

/** A copy of `balances` with `asset` changed by the given deltas. */
export function adjust(balances: Balances, asset: string, dAvailable: bigint, dReserved: bigint): Map<string, Balance> {
  const next = new Map(balances);
  const b = balanceOf(balances, asset);
  next.set(asset, { available: b.available + dAvailable, reserved: b.reserved + dReserved });
  return next;
}

/** Move `amount` of `asset` from available to reserved (negative: back). */
export function reserve(balances: Balances, asset: string, amount: bigint): Map<string, Balance> {
  return adjust(balances, asset, -amount, amount);
}

/** One party's side of a fill. */
export interface FillLeg {
  side: Side;
  baseAsset: string;
  quoteAsset: string;
  /** Base units traded. */
  baseUnits: bigint;
  /** Quote units: price × quantity. */
  notional: bigint;
  /** Quote units charged to this party. */
  fee: bigint;
  /** Units of the reserved asset (quote for a buy, base for a sell) this fill frees from the order's reservation. */
  reservedShare: bigint;
}

export interface LegEffect {
  /** Part of the reserved share handed back to available. */
  released: bigint;
  /** What the share did not cover and was taken from available instead (normally 0). */
  shortfall: bigint;
}

/** What the leg pays out of its reservation: notional + fee for a buy, the base for a sell. */
export function legPayment(leg: FillLeg): bigint {
  return leg.side === 'buy' ? leg.notional + leg.fee : leg.baseUnits;
}

export function legEffect(leg: FillLeg): LegEffect {
  const pay = legPayment(leg);
  return pay <= leg.reservedShare ? { released: leg.reservedShare - pay, shortfall: 0n } : { released: 0n, shortfall: pay - leg.reservedShare };
}

/** Apply one leg to a party's balances. */
export function settleLeg(balances: Balances, leg: FillLeg): Map<string, Balance> {
  const pay = legPayment(leg);
  if (leg.side === 'buy') {
    // reserved quote −share; available quote +(share − pay); available base +qty
    const afterQuote = adjust(balances, leg.quoteAsset, leg.reservedShare - pay, -leg.reservedShare);
    return adjust(afterQuote, leg.baseAsset, leg.baseUnits, 0n);
  }
  const afterBase = adjust(balances, leg.baseAsset, leg.reservedShare - pay, -leg.reservedShare);
  return adjust(afterBase, leg.quoteAsset, leg.notional - leg.fee, 0n);
}

// ---- a whole venue: every account plus the fees collected (used by tests and tools) ----

export interface Ledger {
  accounts: ReadonlyMap<number, Balances>;
  /** Fees collected by the venue, per asset. */
  fees: ReadonlyMap<string, bigint>;
}

export function emptyLedger(): Ledger {
  return { accounts: new Map(), fees: new Map() };
}

export function ledgerDeposit(ledger: Ledger, userId: number, asset: string, amount: bigint): Ledger {
  const accounts = new Map(ledger.accounts);
  accounts.set(userId, adjust(ledger.accounts.get(userId) ?? new Map(), asset, amount, 0n));
  return { ...ledger, accounts };
}

export function ledgerReserve(ledger: Ledger, userId: number, asset: string, amount: bigint): Ledger {
  const accounts = new Map(ledger.accounts);
  accounts.set(userId, reserve(ledger.accounts.get(userId) ?? new Map(), asset, amount));
  return { ...ledger, accounts };
}

export interface Fill {
  buyerUserId: number;
  sellerUserId: number;
  buy: FillLeg;
  sell: FillLeg;
}

/** Settle both legs of a fill and collect both fees. */
export function settleFill(ledger: Ledger, fill: Fill): Ledger {
  const accounts = new Map(ledger.accounts);
  accounts.set(fill.buyerUserId, settleLeg(accounts.get(fill.buyerUserId) ?? new Map(), fill.buy));
  accounts.set(fill.sellerUserId, settleLeg(accounts.get(fill.sellerUserId) ?? new Map(), fill.sell));
  const fees = new Map(ledger.fees);
  fees.set(fill.buy.quoteAsset, (fees.get(fill.buy.quoteAsset) ?? 0n) + fill.buy.fee);
  fees.set(fill.sell.quoteAsset, (fees.get(fill.sell.quoteAsset) ?? 0n) + fill.sell.fee);
  return { accounts, fees };
}

/** Per asset: everything held by all accounts (available + reserved) plus fees collected. */
export function ledgerTotals(ledger: Ledger): Map<string, bigint> {
  const totals = new Map<string, bigint>();
  for (const balances of ledger.accounts.values())
    for (const [asset, b] of balances) totals.set(asset, (totals.get(asset) ?? 0n) + b.available + b.reserved);
  for (const [asset, f] of ledger.fees) totals.set(asset, (totals.get(asset) ?? 0n) + f);
  return totals;
}
