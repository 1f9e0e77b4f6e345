import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '@tradecore/event-store';
import { seed, tradectl, type Seeded } from '../testing/fixture.ts';
import { describe as describeEvent, riskDecisionOf } from './story.ts';

let f: Seeded;
let env: Record<string, string>;
beforeAll(async () => {
  f = await seed('tctl_story');
  env = { DATABASE_URL: f.url };
});
afterAll(async () => {
  await f.close();
});

interface StoryLine {
  n: number;
  type: string;
  stream: string;
  position: string;
  causedBy: { userId: number | null; correlationId: string | null; causationId: string | null; causationEvent: { n: number; type: string } | null };
  riskDecision?: { outcome: string; reason?: string; checks: { rule: string; limit: string | null; observed: string | null; passed: boolean }[] };
}

const parse = (out: string): StoryLine[] =>
  out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as StoryLine);

describe('tradectl order', () => {
  it('tells the whole story of a filled order: every event, its cause, and the risk checks', async () => {
    const id = f.s.aliceBuy.orderId;
    const r = await tradectl(['order', id], env);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`Order ${id} of user ${f.s.alice} in market ${f.s.btc}`);
    expect(r.out).toMatch(/#1 .* OrderPlaced\n\s+placed buy limit 1\.5 @ 101\.50 GTC/);
    expect(r.out).toMatch(/#2 .* account-2@\d+ +OrderAccepted/);
    expect(r.out).toContain('causation #1 OrderPlaced');
    expect(r.out).toMatch(/available\.USD\s+100000\s+152\.5545\s+pass/);
    expect(r.out).toMatch(/price_band\.high\s+110\s+101\.50\s+pass/);
    expect(r.out).toContain('trade ');
    expect(r.out).toContain('5 events. Status: filled; quantity 1.5; filled 1.5 in 1 trade(s)');

    const lines = parse((await tradectl(['order', id, '--format', 'jsonl'], env)).out);
    expect(lines.map((l) => l.type)).toEqual(['OrderPlaced', 'OrderAccepted', 'OrderEntered', 'TradeExecuted', 'FillSettled']);
    const placed = lines[0];
    const accepted = lines[1];
    expect(placed?.causedBy.userId).toBe(f.s.alice);
    expect(accepted?.causedBy.correlationId).toBe(placed?.causedBy.correlationId);
    expect(accepted?.causedBy.causationEvent).toEqual({ n: 1, type: 'OrderPlaced', position: placed?.position });
    expect(accepted?.riskDecision?.outcome).toBe('accepted');
    expect(accepted?.riskDecision?.checks.map((c) => c.rule)).toEqual([
      'market.listed',
      'control',
      'quantity.lot_size',
      'max_order_quantity',
      'price.tick_size',
      'price_band.high',
      'price_band.low',
      'max_order_notional',
      'max_open_orders',
      'order_rate.1000ms',
      'available.USD',
    ]);
    expect(lines[3]?.causedBy.causationEvent?.type).toBe('OrderAccepted');
    expect(lines[4]?.causedBy.causationEvent?.type).toBe('TradeExecuted');
  });

  it('shows a rejection with the failing rule, its limit and the observed value', async () => {
    const r = await tradectl(['order', f.s.daveRejected.orderId], env);
    expect(r.code).toBe(0);
    expect(r.out).toContain('risk rejected: insufficient_funds (rule available.USD: limit 10, observed 101.202)');
    expect(r.out).toMatch(/available\.USD\s+10\s+101\.202\s+FAIL/);
    expect(r.out).toContain('Status: rejected');
    const band = parse((await tradectl(['order', f.s.aliceBandRejected.orderId, '--format', 'jsonl'], env)).out);
    const dec = band.find((l) => l.type === 'OrderRejected')?.riskDecision;
    expect(dec).toEqual({ outcome: 'rejected', reason: 'price_band', checks: [{ rule: 'price_band.high', limit: '111.1', observed: '150.00', passed: false }] });
  });

  it("follows a maker order through other users' trades, and a cancel", async () => {
    const maker = parse((await tradectl(['order', f.s.bobAsk.orderId, '--format', 'jsonl'], env)).out);
    expect(maker.map((l) => l.type)).toEqual(['OrderPlaced', 'OrderAccepted', 'OrderEntered', 'OrderRested', 'TradeExecuted', 'FillSettled']);
    const cancelled = await tradectl(['order', f.s.aliceCancelled.orderId], env);
    expect(cancelled.out).toContain('cancel requested');
    expect(cancelled.out).toContain('cancelled (user): 1');
    expect(cancelled.out).toContain('reservation released:');
    expect(cancelled.out).toContain('Status: cancelled');
  });

  it('shows amends: the request, the risk decision, the market applying it, the release', async () => {
    const lines = parse((await tradectl(['order', f.s.carolBid.orderId, '--format', 'jsonl'], env)).out);
    expect(lines.map((l) => l.type)).toEqual([
      'OrderPlaced',
      'OrderAccepted',
      'OrderEntered',
      'OrderRested',
      'OrderAmendRequested',
      'OrderAmendAccepted',
      'OrderAmended',
      'ReservationReleased',
      'OrderAmendRequested',
      'OrderAmendRejected',
    ]);
    expect(lines[9]?.riskDecision).toEqual({ outcome: 'rejected', reason: 'price_band', checks: [{ rule: 'price_band.low', limit: '42.5', observed: '10.00', passed: false }] });
    expect(lines[9]?.causedBy.causationEvent?.type).toBe('OrderAmendRequested');
    const text = (await tradectl(['order', f.s.carolBid.orderId], env)).out;
    expect(text).toContain('amend requested: price 48.50, quantity 2');
    expect(text).toContain('amended on the book: 2 @ 48.5 (remaining 2, priority lost)');
  });

  it('exits 66 for an unknown order, 64 for a malformed id', async () => {
    const r = await tradectl(['order', '00000000-0000-4000-8000-000000000000'], env);
    expect(r.code).toBe(66);
    expect(r.err).toContain('order 00000000-0000-4000-8000-000000000000 not found');
    const m = await tradectl(['order', 'drop table;'], env);
    expect(m.code).toBe(64);
  });
});

describe('tradectl account', () => {
  it("tells a user's story in global order: registration, deposits, orders, decisions, fills", async () => {
    const lines = parse((await tradectl(['account', String(f.s.dave), '--format', 'jsonl'], env)).out);
    expect(lines.map((l) => l.type)).toEqual(['UserRegistered', 'FundsDeposited', 'OrderPlaced', 'OrderRejected', 'KillSwitchEngaged', 'OrderPlaced', 'OrderRejected', 'KillSwitchReleased']);
    const positions = lines.map((l) => BigInt(l.position));
    expect([...positions].sort((a, b) => (a < b ? -1 : 1))).toEqual(positions);
    expect(lines[6]?.riskDecision).toMatchObject({ outcome: 'rejected', reason: 'kill_switch', checks: [{ rule: 'kill_switch.user', observed: 'compliance review', passed: false }] });

    const text = await tradectl(['account', String(f.s.alice)], env);
    expect(text.code).toBe(0);
    expect(text.out).toContain(`Account of user ${f.s.alice}`);
    expect(text.out).toContain('deposit of 100000 USD');
    expect(text.out).toContain('fill settled (taker): buy 1.5 @ 101');
    expect(text.out).toContain('risk rejected: price_band');
  });

  it('exits 66 for a user the log does not know', async () => {
    const r = await tradectl(['account', '999'], env);
    expect(r.code).toBe(66);
    expect(r.err).toContain('user 999 not found');
    expect(r.out).toBe('');
  });
});

describe("the book's refusal of an amend, in words", () => {
  const recorded = (type: string, data: Record<string, unknown>): RecordedEvent => ({
    eventId: 'e',
    stream: type === 'ReservationReleased' ? 'account-3' : 'market-2',
    type,
    data,
    metadata: { correlationId: 'c', causationId: null, userId: 3, occurredAt: '2030-01-01T00:00:00.000Z', schemaVersion: 1 },
    streamRevision: 0n,
    globalPosition: 1n,
    recordedAt: '2030-01-01T00:00:00.000Z',
  });
  const request = { orderId: 'o', userId: 3, marketId: 2, requestId: 'r1', newPrice: '50.5', newQuantity: '2' };

  it('says what was asked, why the book refused it, and the terms the order keeps', () => {
    const refused = recorded('OrderAmendRejectedByEngine', { ...request, reason: 'post_only_would_take', price: '49', quantity: '2', remainingQuantity: '1.5' });
    expect(describeEvent(refused)).toBe('amend refused by the book: post_only_would_take (asked 2 @ 50.5, request r1); the order stays 2 @ 49 (remaining 1.5)');
    // the market's refusal is not a risk decision: no risk checks are shown for it
    expect(riskDecisionOf(refused)).toBeUndefined();
    expect(describeEvent(recorded('OrderAmendRejectedByEngine', { ...request, reason: 'order_not_open' }))).toBe(
      'amend refused by the book: order_not_open (asked 2 @ 50.5, request r1); the order was no longer on the book',
    );
  });

  it('says when the execution handler, not the book, answered: the market could not decide the input (engine_error)', () => {
    const order = { orderId: 'o', userId: 3, marketId: 2 };
    const rejected = recorded('OrderRejectedByEngine', { ...order, reason: 'engine_error', rejectedQuantity: '2' });
    expect(describeEvent(rejected)).toBe(
      'rejected by the execution handler: engine_error (2): the market could not decide the accepted order (input dead-lettered); it never reached the book, nothing traded',
    );
    expect(riskDecisionOf(rejected)).toBeUndefined();
    // the book's own rejections read as before
    expect(describeEvent(recorded('OrderRejectedByEngine', { ...order, reason: 'fok_unfillable', rejectedQuantity: '2' }))).toBe('rejected by the matching engine: fok_unfillable (2)');
    expect(describeEvent(recorded('OrderAmendRejectedByEngine', { ...request, reason: 'engine_error', price: '49', quantity: '2', remainingQuantity: '1.5' }))).toBe(
      'amend refused by the execution handler: engine_error (asked 2 @ 50.5, request r1): the market could not decide it (input dead-lettered); the order stays 2 @ 49 (remaining 1.5)',
    );
    // without terms the book does not hold the order: not "no longer", which would say it ended
    expect(describeEvent(recorded('OrderAmendRejectedByEngine', { ...request, reason: 'engine_error' }))).toBe(
      'amend refused by the execution handler: engine_error (asked 2 @ 50.5, request r1): the market could not decide it (input dead-lettered); the order is not on the book',
    );
  });

  it('says when the risk handler refused a request it could not decide (engine_error): no rule failed, nothing was reserved', () => {
    const order = { orderId: 'o', userId: 3, marketId: 2 };
    const refusal = { reason: 'engine_error', rule: 'engine.error', limit: null, observed: null };
    const rejected = { ...recorded('OrderRejected', { ...order, ...refusal }), stream: 'account-3' };
    expect(describeEvent(rejected)).toBe('rejected by the risk handler: engine_error: the account could not decide the order (input dead-lettered); nothing was reserved');
    // not a rules decision: no table with a failed rule engine.error
    expect(riskDecisionOf(rejected)).toBeUndefined();
    const amend = { ...recorded('OrderAmendRejected', { ...order, requestId: 'r1', ...refusal }), stream: 'account-3' };
    expect(describeEvent(amend)).toBe('amend refused by the risk handler: engine_error (request r1): the account could not decide it (input dead-lettered); the order keeps its terms');
    expect(riskDecisionOf(amend)).toBeUndefined();
    const cancel = { ...recorded('OrderCancelRejected', { ...order, requestId: 'r2', reason: 'engine_error' }), stream: 'account-3' };
    expect(describeEvent(cancel)).toBe('cancel refused by the risk handler: engine_error (request r2): the account could not decide it (input dead-lettered); the order is unchanged');
    // risk's own rejections read as before, with their rule
    const band = recorded('OrderRejected', { ...order, reason: 'price_band', rule: 'price_band.high', limit: '110', observed: '120' });
    expect(describeEvent(band)).toBe('risk rejected: price_band (rule price_band.high: limit 110, observed 120)');
    expect(riskDecisionOf(band)).toMatchObject({ outcome: 'rejected', reason: 'price_band', checks: [{ rule: 'price_band.high', passed: false }] });
    expect(describeEvent(recorded('OrderCancelRejected', { ...order, requestId: 'r2', reason: 'order_not_open' }))).toBe('cancel rejected: order_not_open');
  });

  it("names the refused request in the account's release", () => {
    const released = recorded('ReservationReleased', { orderId: 'o', userId: 3, marketId: 2, asset: 'USD', amount: '1.002', cause: 'amend_rejected', requestId: 'r1' });
    expect(describeEvent(released)).toBe('reservation released: 1.002 USD (amend_rejected, request r1)');
  });
});
