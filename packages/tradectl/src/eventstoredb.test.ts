/**
 * tradectl against EventStoreDB (where one is reachable: EVENTSTORE_URL or Docker; otherwise the
 * skip and its reason are printed). The scenario is written through the EventStoreDB adapter.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createEventStoreDbEventStore, type EventStore } from '@tradecore/event-store';
import { createTestDatabase, describeWith, getEventStoreDb, type TestDatabase } from '@tradecore/testkit';
import { BTC_USD, Simulator, storeSink } from './testing/simulator.ts';
import { tradectl } from './testing/fixture.ts';

describeWith(getEventStoreDb(), 'tradectl on EventStoreDB', (esdb) => {
  let store: EventStore;
  let sim: Simulator;
  let orderId = '';
  let target: TestDatabase;
  beforeAll(async () => {
    store = createEventStoreDbEventStore({ connectionString: esdb.url });
    sim = new Simulator(storeSink(store), { seed: Date.now() % 100_000 });
    const admin = await sim.registerUser('esdb-admin', ['admin']);
    const u1 = await sim.registerUser('esdb-a');
    const u2 = await sim.registerUser('esdb-b');
    const m = await sim.listMarket(BTC_USD, admin);
    await sim.deposit(u1, 'USD', '1000', admin);
    await sim.deposit(u2, 'BTC', '5', admin);
    await sim.placeOrder({ userId: u2, marketId: m, side: 'sell', price: '100.00', quantity: '1' });
    orderId = (await sim.placeOrder({ userId: u1, marketId: m, side: 'buy', price: '100.00', quantity: '1' })).orderId;
    target = await createTestDatabase('tctl_esdb');
  });
  afterAll(async () => {
    await store.close();
    await target.drop();
  });

  it('tells an order story and filters events through the EventStoreDB adapter', async () => {
    const r = await tradectl(['order', orderId, '--format', 'jsonl', '--url', esdb.url]);
    expect(r.code, r.err).toBe(0);
    const types = r.out
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { type: string }).type);
    expect(types).toEqual(['OrderPlaced', 'OrderAccepted', 'OrderEntered', 'TradeExecuted', 'FillSettled']);
    const ev = await tradectl(['events', '--order', orderId, '--type', 'TradeExecuted', '--url', esdb.url]);
    expect(ev.out.trim().split('\n')).toHaveLength(1);
  });

  it('verify and export say they need PostgreSQL; replay needs --target-url', async () => {
    const v = await tradectl(['verify', '--url', esdb.url]);
    expect(v.code).toBe(69);
    expect(v.err).toContain('needs the PostgreSQL event store');
    const r = await tradectl(['replay', '--url', esdb.url]);
    expect(r.code).toBe(64);
    expect(r.err).toContain('--target-url');
  });
});
