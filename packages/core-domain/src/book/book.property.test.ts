/**
 * Property tests: random order flows through both books. After every step: internal invariants,
 * never crossed at rest, quantity conserved per order, price-then-time priority of fills, and
 * the fast book emits exactly the reference book's events (and has the same state hash).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SelfTradePrevention, Side, TimeInForce } from '../events.ts';
import { FastBook } from './fast-book.ts';
import { ReferenceBook } from './reference-book.ts';
import { restoreBook } from './factory.ts';
import type { BookCommand, BookEvent, OrderBook, RestingOrderView } from './types.ts';

type Gen =
  | { t: 'place'; side: Side; market: boolean; tif: TimeInForce; price: number; lots: number; user: number; postOnly: boolean; stp: SelfTradePrevention }
  | { t: 'dup'; target: number; lots: number }
  | { t: 'cancel'; target: number; live: boolean }
  | { t: 'amend'; target: number; live: boolean; keepPrice: boolean; price: number; delta: number };

/** Most cancels and amends aim at a resting order; the rest at any id ever used (often closed). */
const liveArb = fc.integer({ min: 0, max: 9 }).map((n) => n > 0);

/** Order intents over prices lo..hi: a narrow band trades a lot, a wide one builds many levels. */
const intents = (lo: number, hi: number): fc.Arbitrary<Gen> => fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('place' as const),
      side: fc.constantFrom<Side>('buy', 'sell'),
      market: fc.boolean().chain((b) => (b ? fc.boolean() : fc.constant(false))), // 1 in 4
      tif: fc.constantFrom<TimeInForce>('GTC', 'GTC', 'GTC', 'IOC', 'FOK'),
      price: fc.integer({ min: lo, max: hi }),
      lots: fc.integer({ min: 1, max: 10 }),
      user: fc.integer({ min: 1, max: 4 }),
      postOnly: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
      stp: fc.constantFrom<SelfTradePrevention>('cancel_newest', 'cancel_oldest', 'cancel_both', 'decrement'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('dup' as const), target: fc.nat(), lots: fc.integer({ min: 1, max: 10 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('cancel' as const), target: fc.nat(), live: liveArb }) },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('amend' as const),
      target: fc.nat(),
      live: liveArb,
      keepPrice: fc.boolean(),
      price: fc.integer({ min: lo, max: hi }),
      delta: fc.integer({ min: -6, max: 4 }),
    }),
  },
);
const genArb = intents(95, 105);
const wideArb = intents(1, 400);

/** Turns generated intents into concrete commands, looking at the book to aim amends and cancels. */
class Driver {
  readonly ids: string[] = [];
  private n = 0;
  command(g: Gen, book: OrderBook): BookCommand {
    const pick = (target: number, live = false) => {
      const resting = live ? book.restingOrders() : [];
      if (resting.length > 0) return resting[target % resting.length]!.orderId;
      return this.ids[target % Math.max(1, this.ids.length)] ?? 'none';
    };
    switch (g.t) {
      case 'place': {
        const orderId = `o${this.n++}`;
        this.ids.push(orderId);
        return {
          kind: 'place',
          orderId,
          userId: g.user,
          side: g.side,
          type: g.market ? 'market' : 'limit',
          timeInForce: g.tif,
          priceTicks: BigInt(g.price),
          lots: BigInt(g.lots),
          postOnly: g.postOnly,
          selfTradePrevention: g.stp,
        };
      }
      case 'dup':
        return { kind: 'place', orderId: pick(g.target), userId: 1, side: 'buy', type: 'limit', timeInForce: 'GTC', priceTicks: 1n, lots: BigInt(g.lots), postOnly: false, selfTradePrevention: 'cancel_newest' };
      case 'cancel':
        return { kind: 'cancel', orderId: pick(g.target, g.live) };
      case 'amend': {
        const orderId = pick(g.target, g.live);
        const o = book.restingOrder(orderId);
        const price = o && g.keepPrice ? o.priceTicks : BigInt(g.price);
        const lots = (o?.lots ?? 5n) + BigInt(g.delta);
        return { kind: 'amend', orderId, priceTicks: price, lots: lots > 0n ? lots : 1n };
      }
    }
  }
}

/** A cheap assertion for the hot loops (vitest's `expect` is too slow to call thousands of times per run). */
function check(ok: boolean, message: () => string): void {
  if (!ok) throw new Error(message());
}

const big = (_k: string, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v);
/** Deep equality for the hot loop; on a mismatch, vitest's `expect` shows the diff. */
function expectSameEvents(actual: BookEvent[], expected: BookEvent[]): void {
  if (JSON.stringify(actual, big) !== JSON.stringify(expected, big)) expect(actual).toEqual(expected);
}

interface Ledger {
  total: bigint;
  filled: bigint;
  cancelled: bigint;
  rejected: bigint;
}

/** Independent bookkeeping from the event stream alone, checked against the book after each step. */
class Auditor {
  readonly ledger = new Map<string, Ledger>();
  /** When each resting order last gained its place in the queue (rested, or amended with priority lost). */
  readonly stamp = new Map<string, number>();
  private clock = 0;

  apply(cmd: BookCommand, events: BookEvent[], before: RestingOrderView[]): void {
    const duplicate = cmd.kind === 'place' && events.length === 1 && events[0]?.kind === 'rejected' && events[0].reason === 'duplicate_order';
    if (duplicate) {
      check(before.some((o) => o.orderId === cmd.orderId), () => `duplicate_order for ${cmd.orderId}, which is not resting`);
      return;
    }
    if (cmd.kind === 'place') this.ledger.set(cmd.orderId, { total: cmd.lots, filled: 0n, cancelled: 0n, rejected: 0n });

    // Price-then-time priority: the makers touched (traded, or hit by STP) are exactly the first
    // orders of the opposite side in pre-command priority order, in that order.
    const takerSide: Side | undefined =
      cmd.kind === 'place' ? cmd.side : before.find((o) => o.orderId === cmd.orderId)?.side;
    const opposite = before.filter((o) => o.side !== takerSide);
    const touched: string[] = [];
    const touch = (id: string) => {
      if (touched[touched.length - 1] !== id) touched.push(id);
    };
    const takerId = cmd.orderId;
    for (const e of events) {
      switch (e.kind) {
        case 'trade': {
          touch(e.makerOrderId);
          check(e.takerOrderId === takerId, () => `trade taker ${e.takerOrderId} is not ${takerId}`);
          this.ledger.get(e.takerOrderId)!.filled += e.lots;
          this.ledger.get(e.makerOrderId)!.filled += e.lots;
          if (cmd.kind !== 'cancel') check(e.takerSide === 'buy' ? e.priceTicks <= cmd.priceTicks : e.priceTicks >= cmd.priceTicks, () => `trade beyond the limit of ${takerId}`);
          break;
        }
        case 'cancelled':
          if (e.orderId !== takerId) touch(e.orderId);
          this.ledger.get(e.orderId)!.cancelled += e.cancelledLots;
          break;
        case 'rejected':
          if (e.rejectedLots > 0n) this.ledger.get(e.orderId)!.rejected += e.rejectedLots;
          break;
        case 'amended':
          if (e.orderId !== takerId) touch(e.orderId);
          this.ledger.get(e.orderId)!.total = e.lots;
          if (e.priorityLost) this.stamp.set(e.orderId, this.clock++);
          break;
        case 'rested':
          this.stamp.set(e.orderId, this.clock++);
          break;
      }
    }
    if (cmd.kind !== 'cancel') {
      const head = opposite.slice(0, touched.length).map((o) => o.orderId);
      if (head.join() !== touched.join()) expect(touched).toEqual(head);
    }
  }

  check(book: OrderBook): void {
    const resting = new Map(book.restingOrders().map((o) => [o.orderId, o]));
    let submitted = 0n;
    let accounted = 0n;
    for (const [id, l] of this.ledger) {
      const r = resting.get(id);
      const open = r?.remainingLots ?? 0n;
      if (r) {
        check(r.lots === l.total, () => `${id}: resting total ${r.lots} but events say ${l.total}`);
        check(r.remainingLots === l.total - l.filled, () => `${id}: remaining ${r.remainingLots} but events say ${l.total - l.filled}`);
      }
      check(l.filled + open + l.cancelled + l.rejected === l.total, () => `${id}: quantity not conserved ${JSON.stringify(l, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))} open ${open}`);
      submitted += l.total;
      accounted += l.filled + open + l.cancelled + l.rejected;
    }
    check(accounted === submitted, () => `submitted ${submitted} but accounted ${accounted}`);
    // Priority at rest: best price first on each side; FIFO (ascending stamp) within a price.
    const snap = book.snapshot();
    for (const [side, orders] of [['buy', snap.bids], ['sell', snap.asks]] as const) {
      for (let i = 1; i < orders.length; i++) {
        const a = orders[i - 1]!;
        const b = orders[i]!;
        if (a.priceTicks === b.priceTicks) check(this.stamp.get(a.orderId)! < this.stamp.get(b.orderId)!, () => `${b.orderId} queued behind later ${a.orderId}`);
        else check(side === 'buy' ? a.priceTicks > b.priceTicks : a.priceTicks < b.priceTicks, () => `${side} side not best-price first at ${b.orderId}`);
      }
    }
    const bid = book.bestBid();
    const ask = book.bestAsk();
    check(bid === null || ask === null || bid < ask, () => `crossed at rest: ${bid} >= ${ask}`);
  }
}

/** Which situations the random flows reached, so the test proves it exercises every rule. */
function situations(cmd: BookCommand, events: BookEvent[]): string[] {
  return events.map((e) => {
    switch (e.kind) {
      case 'trade':
        return `trade after ${cmd.kind}`;
      case 'cancelled':
      case 'rejected':
        return `${e.kind} ${e.reason} after ${cmd.kind}${e.orderId === cmd.orderId ? '' : ' (maker)'}`;
      case 'amended':
        return `amended priorityLost=${e.priorityLost} after ${cmd.kind}${e.orderId === cmd.orderId ? '' : ' (maker)'}`;
      case 'rested':
        return 'rested';
    }
  });
}

function runFlow(gens: Gen[], seen?: Set<string>, windowSlots?: number): { ref: ReferenceBook; fast: FastBook } {
  const ref = new ReferenceBook();
  const fast = new FastBook({ windowSlots });
  const driver = new Driver();
  const auditor = new Auditor();
  for (const g of gens) {
    const cmd = driver.command(g, ref);
    const before = ref.restingOrders();
    const expected = ref.execute(cmd);
    const actual = fast.execute(cmd);
    expectSameEvents(actual, expected);
    for (const s of situations(cmd, expected)) seen?.add(s);
    ref.validateInternalState();
    fast.validateInternalState();
    auditor.apply(cmd, expected, before);
    auditor.check(ref);
    auditor.check(fast);
    // L2 depth agrees too (and refreshes the fast book's cached level totals, which the next
    // validateInternalState then checks against its nodes).
    const [df, dr] = [fast.depth(5), ref.depth(5)];
    if (JSON.stringify(df, big) !== JSON.stringify(dr, big)) expect(df).toEqual(dr);
    const [hf, hr] = [fast.stateHash(), ref.stateHash()];
    check(hf === hr, () => `state hashes differ: fast ${hf}, reference ${hr}`);
  }
  return { ref, fast };
}

describe('order books under random flows', () => {
  it('agree event for event and keep every invariant', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(fc.array(genArb, { minLength: 1, maxLength: 150, size: 'max' }), (gens) => {
        runFlow(gens, seen);
      }),
      { numRuns: 300 },
    );
    // The flows must reach every rule, or the agreement above proves little.
    expect([...seen].sort()).toEqual(
      expect.arrayContaining([
        'rested',
        'trade after place',
        'trade after amend',
        'cancelled ioc_remainder after place',
        'cancelled market_remainder after place',
        'cancelled self_trade after place',
        'cancelled self_trade after place (maker)',
        'cancelled self_trade after amend',
        'cancelled user after cancel',
        'cancelled user after amend',
        'rejected post_only_would_take after place',
        'rejected post_only_would_take after amend',
        'rejected fok_unfillable after place',
        'rejected no_liquidity after place',
        'rejected duplicate_order after place',
        'rejected unknown_order after cancel',
        'rejected unknown_order after amend',
        'amended priorityLost=true after amend',
        'amended priorityLost=false after amend',
        'amended priorityLost=false after place',
        'amended priorityLost=false after place (maker)',
      ]),
    );
  });

  it('agree on wide books with many sparse levels (heap growth, lazy deletion, compaction)', () => {
    fc.assert(
      fc.property(fc.array(wideArb, { minLength: 100, maxLength: 400, size: 'max' }), (gens) => {
        runFlow(gens);
      }),
      { numRuns: 40 },
    );
  });

  it('agree with tiny price windows (overflow map, window re-centring)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(wideArb, genArb), { minLength: 50, maxLength: 300, size: 'max' }), fc.integer({ min: 1, max: 16 }), (gens, slots) => {
        runFlow(gens, undefined, slots);
      }),
      { numRuns: 60 },
    );
  });

  it('snapshot → restore gives the same hash and the same future behaviour', () => {
    fc.assert(
      fc.property(fc.array(genArb, { maxLength: 100, size: 'max' }), fc.array(genArb, { maxLength: 60, size: 'max' }), fc.boolean(), (prefix, suffix, fromFast) => {
        const { ref, fast } = runFlow(prefix);
        const origin: OrderBook = fromFast ? fast : ref;
        const snapshot = origin.snapshot();
        const restoredFast = restoreBook(snapshot, 'fast');
        const restoredRef = restoreBook(snapshot, 'reference');
        expect(restoredFast.stateHash()).toBe(origin.stateHash());
        expect(restoredRef.stateHash()).toBe(origin.stateHash());
        const driver = new Driver();
        driver.ids.push(...snapshot.bids.map((o) => o.orderId), ...snapshot.asks.map((o) => o.orderId), 'gone');
        for (const g of suffix) {
          const cmd = driver.command(g, origin);
          const expected = origin.execute(cmd);
          expectSameEvents(restoredFast.execute(cmd), expected);
          expectSameEvents(restoredRef.execute(cmd), expected);
        }
        restoredFast.validateInternalState();
        restoredRef.validateInternalState();
        expect(restoredFast.stateHash()).toBe(origin.stateHash());
        expect(restoredRef.stateHash()).toBe(origin.stateHash());
      }),
      { numRuns: 100 },
    );
  });

  it('is deterministic: the same commands give the same events', () => {
    fc.assert(
      fc.property(fc.array(genArb, { maxLength: 100, size: 'max' }), (gens) => {
        const a = new FastBook();
        const b = new FastBook();
        const driver = new Driver();
        for (const g of gens) {
          const cmd = driver.command(g, a);
          expectSameEvents(b.execute(cmd), a.execute(cmd));
        }
        expect(a.stateHash()).toBe(b.stateHash());
      }),
      { numRuns: 50 },
    );
  });
});
