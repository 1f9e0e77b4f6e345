import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AmendRefusalReason, CancelReason, EVENT_TYPES, KillSwitchScope, Liquidity, OrderType, RejectReason, ReservationReleased, Role, SelfTradePrevention, Side, TimeInForce, TradecoreEvent, parseEvent, upcasters } from './events.ts';
import { fastParseEvent } from './fast-parse.ts';

/** A recorded event as the checker sees it. */
interface Rec {
  type: string;
  schemaVersion: number;
  data: unknown;
}

// ---- a corpus of well-formed events of every type the checker knows, in the forms the log holds ----

const digits = (minLength: number, maxLength: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength, maxLength });
/** "0" or up to 30 digits without a leading zero, optionally a fraction of 1–18 digits. */
const decimal = fc
  .tuple(fc.oneof(fc.constant('0'), fc.tuple(fc.constantFrom(...'123456789'), digits(0, 29)).map(([a, b]) => a + b), fc.integer({ min: 1, max: 100_000 }).map(String)), fc.option(digits(1, 18), { nil: undefined }))
  .map(([int, frac]) => (frac === undefined ? int : `${int}.${frac}`));
const positive = decimal.filter((s) => /[1-9]/.test(s));
const signedDecimal = fc.tuple(fc.boolean(), decimal).map(([neg, d]) => (neg ? `-${d}` : d));
const pad = (n: number, w = 2) => String(n).padStart(w, '0');
/** ISO instants with `Z`, on days 01–28 (which every month has), with or without a fraction. */
const iso = fc
  .record({ y: fc.integer({ min: 1970, max: 2199 }), mo: fc.integer({ min: 1, max: 12 }), d: fc.integer({ min: 1, max: 28 }), h: fc.integer({ min: 0, max: 23 }), mi: fc.integer({ min: 0, max: 59 }), s: fc.integer({ min: 0, max: 59 }), frac: fc.option(digits(1, 9), { nil: undefined }) })
  .map(({ y, mo, d, h, mi, s, frac }) => `${pad(y, 4)}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(s)}${frac === undefined ? '' : `.${frac}`}Z`);
const str = fc.string({ maxLength: 16 });
const uuidish = fc.oneof(fc.uuid(), fc.string({ minLength: 1, maxLength: 64 }));
const id = fc.oneof(fc.integer({ min: 1, max: 1_000_000 }), fc.constant(Number.MAX_SAFE_INTEGER));
const bps = fc.integer({ min: 0, max: 1000 });
const nullable = <T,>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null });
const oneOf = <T extends string>(values: readonly T[]) => fc.constantFrom(...values);

const side = oneOf(Side.options);
const order = { orderId: uuidish, userId: id, marketId: id };
const request = { ...order, requestId: uuidish };
const orderTerms = {
  ...order,
  side,
  type: oneOf(OrderType.options),
  timeInForce: oneOf(TimeInForce.options),
  price: nullable(positive),
  protectionPrice: nullable(positive),
  quantity: positive,
  postOnly: fc.boolean(),
  selfTradePrevention: oneOf(SelfTradePrevention.options),
};
const killSwitch = { scope: oneOf(KillSwitchScope.options), marketId: nullable(id), userId: nullable(id), reason: str, changedBy: id };
const ARBITRARIES: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  UserRegistered: fc.record({ userId: id, username: str, passwordHash: str, roles: fc.array(oneOf(Role.options), { minLength: 1, maxLength: 3 }) }),
  MarketListed: fc.record({
    marketId: id,
    symbol: str,
    baseAsset: str,
    quoteAsset: str,
    tickSize: positive,
    lotSize: positive,
    referencePrice: nullable(positive),
    makerFeeBps: bps,
    takerFeeBps: bps,
    maxOrderQuantity: positive,
    maxOrderNotional: positive,
    priceBandBps: id,
    listedBy: id,
  }),
  MarketHalted: fc.record({ marketId: id, reason: str, haltedBy: id }),
  MarketResumed: fc.record({ marketId: id, reason: str, resumedBy: id }),
  KillSwitchEngaged: fc.record(killSwitch),
  KillSwitchReleased: fc.record(killSwitch),
  OrderPlaced: fc.record({
    ...order,
    side,
    type: oneOf(OrderType.options),
    timeInForce: oneOf(TimeInForce.options),
    price: nullable(positive),
    quantity: positive,
    postOnly: fc.boolean(),
    selfTradePrevention: oneOf(SelfTradePrevention.options),
    clientOrderId: nullable(str),
    requestHash: str,
    placedAt: iso,
  }),
  FundsDeposited: fc.record({ depositId: uuidish, userId: id, asset: str, amount: positive, depositedBy: id }),
  OrderAccepted: fc.record({
    ...orderTerms,
    reservedAsset: str,
    reservedAmount: decimal,
    checks: fc.array(fc.record({ rule: str, limit: nullable(str), observed: nullable(str) }), { maxLength: 4 }),
  }),
  OrderRejected: fc.record({ ...order, reason: oneOf(RejectReason.options), rule: str, limit: nullable(str), observed: nullable(str) }),
  OrderAmendAccepted: fc.record({ ...order, requestId: uuidish, newPrice: positive, newQuantity: positive, reservationDelta: signedDecimal, reservedAsset: str }),
  FillSettled: fc.record(
    {
      tradeId: uuidish,
      ...order,
      side,
      liquidity: oneOf(Liquidity.options),
      price: positive,
      quantity: positive,
      baseAsset: str,
      quoteAsset: str,
      notional: decimal,
      fee: decimal,
      feeAsset: str,
      reservationReleased: decimal,
      remainingQuantity: decimal,
      late: fc.boolean(),
    },
    { requiredKeys: ['tradeId', 'orderId', 'userId', 'marketId', 'side', 'liquidity', 'price', 'quantity', 'baseAsset', 'quoteAsset', 'notional', 'fee', 'feeAsset', 'reservationReleased'] },
  ),
  ReservationReleased: fc.record(
    { ...order, asset: str, amount: decimal, cause: oneOf(ReservationReleased.shape.data.shape.cause.options), price: positive, quantity: positive, remainingQuantity: decimal, requestId: uuidish },
    { requiredKeys: ['orderId', 'userId', 'marketId', 'asset', 'amount', 'cause'] },
  ),
  OrderRested: fc.record({ ...order, side, price: positive, remainingQuantity: positive }),
  TradeExecuted: fc.record({
    tradeId: uuidish,
    marketId: id,
    price: positive,
    quantity: positive,
    takerSide: side,
    takerOrderId: uuidish,
    takerUserId: id,
    makerOrderId: uuidish,
    makerUserId: id,
    takerFee: decimal,
    makerFee: decimal,
    takerRemainingQuantity: decimal,
    makerRemainingQuantity: decimal,
    executedAt: iso,
  }),
  OrderCancelled: fc.record({ ...order, reason: oneOf(CancelReason.options), cancelledQuantity: decimal }),
  OrderExpired: fc.record({ ...order, expiredQuantity: decimal }),
  OrderAmended: fc.record({ ...order, price: positive, quantity: positive, remainingQuantity: positive, priorityLost: fc.boolean() }),
  OrderRejectedByEngine: fc.record({ ...order, reason: oneOf(RejectReason.options), rejectedQuantity: decimal }),
  // (Later additions go last, so that the seeds, and so the samples, of the types above stay as they were.)
  UserForgotten: fc.record({ userId: id, reason: str, forgottenBy: id }),
  OrderAmendRequested: fc.record({ ...request, newPrice: nullable(positive), newQuantity: nullable(positive), requestedAt: iso }),
  OrderCancelRequested: fc.record({ ...request, requestedAt: iso }),
  OrderAmendRejected: fc.record({ ...request, reason: oneOf(RejectReason.options), rule: str, limit: nullable(str), observed: nullable(str) }),
  OrderCancelAccepted: fc.record(request),
  OrderCancelRejected: fc.record({ ...request, reason: oneOf(RejectReason.options) }),
  OrderEntered: fc.record(orderTerms),
  OrderAmendRejectedByEngine: fc.record(
    { ...request, newPrice: positive, newQuantity: positive, reason: oneOf(AmendRefusalReason.options), price: positive, quantity: positive, remainingQuantity: positive },
    { requiredKeys: ['orderId', 'userId', 'marketId', 'requestId', 'newPrice', 'newQuantity', 'reason'] },
  ),
};
const CHECKED_TYPES = Object.keys(ARBITRARIES);

const read: Rec[] = CHECKED_TYPES.flatMap((type, i) =>
  fc.sample(ARBITRARIES[type]!, { numRuns: 300, seed: 7 + i }).map((data) => ({ type, schemaVersion: 1, data })),
);

/** zod's verdict, as parseEvent gives it. */
function zodData(rec: Rec): { ok: true; data: unknown } | { ok: false } {
  try {
    return { ok: true, data: parseEvent(rec.type, rec.schemaVersion, rec.data).data };
  } catch {
    return { ok: false };
  }
}

const fastParse = (rec: Rec) => fastParseEvent(rec.type, rec.schemaVersion, rec.data);

/** Strings that sit on the edges of the schemas' checks (decimals, ISO times, id lengths, letter case). */
const EDGE_STRINGS = [
  '',
  '0',
  '0.0',
  '00',
  '01',
  '1.',
  '.5',
  '-1',
  '-0.5',
  '1e3',
  ' 1',
  '1 ',
  '1.0000000000000000001',
  '1234567890123456789012345678901',
  '2026-02-29T00:00:00Z',
  '2024-02-29T00:00:00.000Z',
  '2026-01-31T23:59:59.999Z',
  '2026-04-31T00:00:00Z',
  '2026-01-05T24:00:00Z',
  '2026-01-05T10:00:00+00:00',
  '2026-01-05T10:00Z',
  '2026-01-05T10:00:00.Z',
  'x'.repeat(64),
  'x'.repeat(65),
  'BUY',
];
/** Every value of every enum of the catalogue: each is a value another field's check must refuse. */
const ENUM_VALUES = [
  ...new Set<string>([
    ...Side.options,
    ...OrderType.options,
    ...TimeInForce.options,
    ...SelfTradePrevention.options,
    ...Role.options,
    ...Liquidity.options,
    ...RejectReason.options,
    ...CancelReason.options,
    ...KillSwitchScope.options,
    ...ReservationReleased.shape.data.shape.cause.options,
  ]),
];
const EDGE_OTHERS = [0, -1, 1, 1.5, 1001, 1000, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, Number.NaN, Infinity, true, false, null];
/** All of the above, and undefined, objects and lists: the values the grid below puts in every field. */
const EDGE_VALUES: readonly unknown[] = [...EDGE_STRINGS, ...ENUM_VALUES, ...EDGE_OTHERS, undefined, {}, [], [null], ['trader'], [{ rule: 'r', limit: null, observed: null }]];

/** Values that sit on the edges of the schemas' checks, and random ones. */
const edgy = fc.oneof(
  fc.constantFrom(...EDGE_STRINGS),
  fc.constantFrom(...ENUM_VALUES),
  fc.constantFrom(...EDGE_OTHERS),
  fc.constant(undefined),
  fc.jsonValue({ maxDepth: 2 }),
  fc.string({ maxLength: 12 }),
  fc.integer(),
);

describe('fastParseEvent', () => {
  it('the catalogue is where the checker assumes it is: every schema at version 1, no upcasters', () => {
    for (const option of TradecoreEvent.options) expect(option.shape.schemaVersion.value).toBe(1);
    expect(Object.keys(upcasters)).toEqual([]);
  });

  it('the corpus has a generator for every catalogue type (each has a checker, so each is held to the properties below)', () => {
    // A new catalogue type: add its generator above, and its checker in fast-parse.ts (or let this
    // test name the types the fast path leaves to zod).
    expect([...CHECKED_TYPES].sort()).toEqual([...EVENT_TYPES].sort());
  });

  it('accepts every well-formed event of the corpus, with the data zod returns', () => {
    const types = new Set<string>();
    let zodAccepted = 0;
    for (const [i, rec] of read.entries()) {
      const z = zodData(rec);
      const fast = fastParse(rec);
      if (!z.ok) {
        expect(fast, `${rec.type} #${i}`).toBeUndefined();
        continue;
      }
      zodAccepted += 1;
      // The corpus has ISO times on days 01–28 only, so the narrow ISO form covers it all.
      expect(fast, `${rec.type} #${i}: ${JSON.stringify(rec.data)}`).toBeDefined();
      expect(fast?.data).toEqual(z.data);
      expect(fast?.type).toBe(rec.type);
      expect(fast?.schemaVersion).toBe(1);
      // The data as given, not a copy (callers share it; see the engine's parseRecorded).
      expect(fast?.data).toBe(rec.data);
      types.add(rec.type);
    }
    // The corpus is well formed (so the property above is not satisfied by an empty one).
    expect(zodAccepted).toBe(read.length);
    for (const t of CHECKED_TYPES) expect(types).toContain(t);
    for (const t of ['UserRegistered', 'MarketListed', 'OrderPlaced', 'OrderAccepted', 'FillSettled', 'TradeExecuted', 'OrderRested', 'OrderCancelled', 'OrderAmended', 'ReservationReleased', 'FundsDeposited']) {
      expect(types).toContain(t);
    }
  });

  it('never accepts what zod rejects: every edge value in every field, and every field removed, of every type', () => {
    let accepted = 0;
    let checked = 0;
    for (const type of CHECKED_TYPES) {
      const corpus = read.filter((e) => e.type === type);
      // Every key the type's events have (optional ones included), tried on a few of them.
      const keys = [...new Set(corpus.flatMap((e) => Object.keys(e.data as object)))];
      for (const rec of corpus.slice(0, 3)) {
        const mutations: Record<string, unknown>[] = [];
        for (const key of keys) {
          const { [key]: _, ...without } = rec.data as Record<string, unknown>;
          mutations.push(without);
          for (const value of EDGE_VALUES) mutations.push({ ...(rec.data as Record<string, unknown>), [key]: value });
        }
        for (const data of mutations) {
          const mutated: Rec = { ...rec, data };
          checked += 1;
          const fast = fastParse(mutated);
          if (fast === undefined) continue;
          accepted += 1;
          const z = zodData(mutated);
          expect(z.ok, `${type}: ${JSON.stringify(data)}`).toBe(true);
          if (z.ok) expect(fast.data).toEqual(z.data);
        }
      }
    }
    expect(accepted).toBeGreaterThan(5_000);
    expect(checked - accepted).toBeGreaterThan(30_000);
  });

  /** Another corpus event's value of one of its fields (any type): a value of a neighbouring check (an enum of another field, a decimal where a positive one goes, a null, a list). */
  const elsewhere = fc.tuple(fc.nat(read.length - 1), fc.nat()).map(([i, k]) => {
    const data = read[i]!.data as Record<string, unknown>;
    const keys = Object.keys(data);
    return data[keys[k % keys.length]!];
  });

  // Per type, so that every checker gets the same share of mutations however many types there are.
  it.each(CHECKED_TYPES)('never accepts what zod rejects: one field of %s replaced, removed or added', (type) => {
    const corpus = read.filter((e) => e.type === type);
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(fc.nat(corpus.length - 1), fc.nat(), fc.constantFrom('replace', 'swap', 'remove', 'add'), edgy, elsewhere, (i, k, how, value, other) => {
        const rec = corpus[i]!;
        const data = { ...(rec.data as Record<string, unknown>) };
        const keys = Object.keys(data);
        const key = how === 'add' ? `extra${k % 3}` : (keys[k % keys.length] ?? 'x');
        if (how === 'remove') delete data[key];
        else data[key] = how === 'swap' ? other : value;
        const mutated: Rec = { ...rec, data };
        const fast = fastParse(mutated);
        if (fast === undefined) {
          refused += 1;
          return;
        }
        accepted += 1;
        const z = zodData(mutated);
        expect(z.ok, `${rec.type}.${key} = ${JSON.stringify(data[key]) ?? 'undefined'} (${how})`).toBe(true);
        if (z.ok) expect(fast.data).toEqual(z.data);
      }),
      { numRuns: 2_000 },
    );
    // Both verdicts are exercised, so the property is not satisfied by refusing everything.
    expect(accepted).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(500);
  });

  it('never accepts what zod rejects: nested risk checks and roles', () => {
    const nested = read.filter((e) => e.type === 'OrderAccepted' || e.type === 'UserRegistered');
    fc.assert(
      fc.property(fc.nat(nested.length - 1), fc.array(fc.oneof(edgy, fc.record({ rule: edgy, limit: edgy, observed: edgy }, { requiredKeys: [] })), { maxLength: 3 }), (i, list) => {
        const rec = nested[i]!;
        const data = { ...(rec.data as Record<string, unknown>) };
        data[rec.type === 'OrderAccepted' ? 'checks' : 'roles'] = list;
        const mutated: Rec = { ...rec, data };
        const fast = fastParse(mutated);
        if (fast === undefined) return;
        const z = zodData(mutated);
        expect(z.ok, JSON.stringify(list)).toBe(true);
        if (z.ok) expect(fast.data).toEqual(z.data);
      }),
      { numRuns: 5_000 },
    );
  });

  it('leaves other schema versions, types without a checker, and non-objects to zod', () => {
    const rec = read.find((e) => e.type === 'TradeExecuted')!;
    expect(fastParse(rec)).toBeDefined();
    expect(fastParse({ ...rec, schemaVersion: 2 })).toBeUndefined();
    expect(fastParse({ ...rec, schemaVersion: 0 })).toBeUndefined();
    expect(fastParse({ ...rec, schemaVersion: Number.NaN })).toBeUndefined();
    expect(fastParse({ ...rec, type: 'MysteryHappened' })).toBeUndefined();
    // Another type's checker: TradeExecuted's data is not an OrderEntered's.
    expect(fastParse({ ...rec, type: 'OrderEntered' })).toBeUndefined();
    expect(fastParse({ ...rec, data: [rec.data] })).toBeUndefined();
    expect(fastParse({ ...rec, data: null })).toBeUndefined();
    expect(fastParse({ ...rec, data: JSON.parse(`{"__proto__": 1, ${JSON.stringify(rec.data).slice(1)}`) as unknown })).toBeUndefined();
    // A last day of a month is valid for zod; the fast path leaves it to zod rather than judge it.
    const late = { ...rec, data: { ...(rec.data as Record<string, unknown>), executedAt: '2026-01-31T10:00:00.000Z' } };
    expect(fastParse(late)).toBeUndefined();
    expect(zodData(late).ok).toBe(true);
  });

  it('leaves to zod a field that for-in does not list: a non-enumerable own key is not taken as checked', () => {
    for (const type of ['TradeExecuted', 'FillSettled', 'ReservationReleased', 'OrderCancelAccepted']) {
      const rec = read.find((e) => e.type === type)!;
      const data = { ...(rec.data as Record<string, unknown>) };
      // A bad value that zod reads (it reads every field of the shape) but for-in does not list.
      Object.defineProperty(data, 'marketId', { value: 0, enumerable: false });
      expect(fastParse({ ...rec, data }), type).toBeUndefined();
      expect(zodData({ ...rec, data }).ok, type).toBe(false);
    }
  });
});
