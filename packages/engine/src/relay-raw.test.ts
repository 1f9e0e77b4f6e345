/**
 * The relay's raw reads (subscribeToAllRaw: data and metadata spliced into the messages as stored)
 * against its parsed reads (subscribeToAll + JSON encode), over one PostgreSQL log holding every
 * kind of event the relay routes differently: the produce requests must be the same — topics,
 * partitions, keys, headers, order — and every value must decode to the same event.
 */
import type { RawRecordedEvent, RecordedEvent } from '@tradecore/event-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeRecordedEvent } from './codec.ts';
import { buildRawTopicMessages, buildTopicMessages } from './relay.ts';
import { ROUTING_FIELDS, routeEvent } from './routing.ts';
import { createTestStore, type TestStore } from './test-support.ts';

const meta = (i: number) => ({ correlationId: `c-${i}`, causationId: null, userId: 1, occurredAt: '2025-01-01T00:00:00.000Z', schemaVersion: 1 });

/** One event per routing case (see routeEvent), with extra fields the routing does not read. */
const CASES: { stream: string; type: string; data: Record<string, unknown> }[] = [
  { stream: 'users', type: 'UserRegistered', data: { userId: 1, username: 'ann' } },
  { stream: 'order-a', type: 'OrderPlaced', data: { orderId: 'a', userId: 2, marketId: 1, price: '100.5', note: 'é "q" \\ \u2028' } },
  { stream: 'account-2', type: 'OrderAccepted', data: { orderId: 'a', userId: 2, marketId: 1, checks: [{ rule: 'x', limit: '1', observed: '0.5' }] } },
  { stream: 'order-a', type: 'OrderCancelRequested', data: { orderId: 'a', userId: 2, marketId: 1 } },
  { stream: 'account-2', type: 'OrderCancelAccepted', data: { orderId: 'a', userId: 2, marketId: 1 } },
  { stream: 'market-1', type: 'TradeExecuted', data: { tradeId: 't', takerUserId: 3, makerUserId: 4, marketId: 1, price: '100' } },
  { stream: 'market-1', type: 'TradeExecuted', data: { tradeId: 'self', takerUserId: 5, makerUserId: 5, marketId: 1 } },
  { stream: 'control', type: 'KillSwitchEngaged', data: { scope: 'market', marketId: 2, userId: null } },
  { stream: 'control', type: 'KillSwitchEngaged', data: { scope: 'user', marketId: 3, userId: 6 } },
  { stream: 'control', type: 'KillSwitchEngaged', data: { scope: 'user', marketId: null, userId: 6 } },
  { stream: 'control', type: 'KillSwitchEngaged', data: { scope: 'global', marketId: null, userId: null } },
  { stream: 'control', type: 'KillSwitchEngaged', data: { scope: 'market' } },
  { stream: 'markets', type: 'MarketHalted', data: { marketId: 4, reason: 'x' } },
  { stream: 'account-7', type: 'FundsDeposited', data: { userId: 7, asset: 'USD', amount: '10' } },
  { stream: 'account-7', type: 'FillSettled', data: { userId: 7, tradeId: 't', legs: [{ asset: 'USD', delta: '-1' }] } },
  { stream: 'market-1', type: 'OrderRested', data: { orderId: 'a', userId: 2, marketId: 1 } },
  // unroutable: key fields missing or of the wrong type
  { stream: 'order-b', type: 'OrderPlaced', data: { orderId: 'b', marketId: 1 } },
  { stream: 'order-c', type: 'OrderPlaced', data: { orderId: 'c', userId: '2', marketId: 1 } },
  { stream: 'market-1', type: 'TradeExecuted', data: { tradeId: 'u', takerUserId: 3 } },
];

function pick(data: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(ROUTING_FIELDS.filter((f) => f in data).map((f) => [f, data[f]]));
}

describe('relay raw reads', () => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await createTestStore('relay_raw');
    for (const [i, c] of CASES.entries())
      await ts.store.appendToStream(c.stream, [{ eventId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, type: c.type, data: c.data, metadata: meta(i) }]);
  });
  afterAll(async () => {
    await ts?.close();
  });

  it('routes every case by ROUTING_FIELDS alone exactly as by the whole data', () => {
    for (const c of CASES) expect(routeEvent({ ...c, data: pick(c.data) })).toEqual(routeEvent(c));
  });

  it('builds the same produce requests from raw reads as from parsed reads, values decoding to the same events', async () => {
    const parsed: RecordedEvent[] = [];
    const raw: RawRecordedEvent[] = [];
    const subs = [
      ts.store.subscribeToAll(async (b) => void parsed.push(...b), { batchSize: 7 }),
      ts.store.subscribeToAllRaw(async (b) => void raw.push(...b), { batchSize: 7, fields: ROUTING_FIELDS }),
    ];
    const deadline = Date.now() + 10_000;
    while ((parsed.length < CASES.length || raw.length < CASES.length) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    for (const s of subs) await s.close();
    expect(raw).toHaveLength(CASES.length);

    const unroutable: { parsed: string[]; raw: string[] } = { parsed: [], raw: [] };
    const fromParsed = buildTopicMessages(parsed, 'p.', 4096, (e) => unroutable.parsed.push(e.eventId));
    const fromRaw = buildRawTopicMessages(raw, 'p.', 4096, (e) => unroutable.raw.push(e.eventId));
    expect(unroutable.raw).toEqual(unroutable.parsed);
    expect(unroutable.raw).toHaveLength(4);
    // A small size limit: several requests both ways. Raw values keep the store's JSON formatting
    // (jsonb's text has a space after each colon and comma), so the split points may differ; what
    // each topic partition receives, in order, may not.
    expect(fromParsed.length).toBeGreaterThan(1);
    expect(fromRaw.length).toBeGreaterThan(1);
    const perPartition = (requests: typeof fromParsed) => {
      const out = new Map<string, unknown[]>();
      for (const request of requests)
        for (const tm of request)
          for (const m of tm.messages) {
            const k = `${tm.topic}/${m.partition}`;
            if (!out.has(k)) out.set(k, []);
            out.get(k)!.push({ key: m.key, headers: m.headers, event: decodeRecordedEvent(m.value as Buffer) });
          }
      return Object.fromEntries([...out].sort(([a], [b]) => a.localeCompare(b)));
    };
    expect(perPartition(fromRaw)).toEqual(perPartition(fromParsed));
    for (const request of fromRaw)
      for (const tm of request) {
        const bytes = new Map<number, number>();
        for (const m of tm.messages) bytes.set(m.partition!, (bytes.get(m.partition!) ?? 0) + (m.value as Buffer).length);
        for (const b of bytes.values()) expect(b).toBeLessThanOrEqual(4096);
      }
    // and the decoded events are the recorded ones
    const events = fromRaw.flatMap((r) => r.filter((tm) => tm.topic === 'p.tradecore.events').flatMap((tm) => tm.messages.map((m) => decodeRecordedEvent(m.value as Buffer))));
    expect(events).toEqual(parsed);
  });
});
