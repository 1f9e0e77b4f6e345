import { describeWith, getKafka } from '@tradecore/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { createPostgresCheckpointStore, type CheckpointStore } from './checkpoints.ts';
import { engineMetrics } from './observability.ts';
import { createRelay, startRelay } from './relay.ts';
import { topicName } from './routing.ts';
import {
  collectTopic,
  createTestStore,
  decoded,
  deposit,
  marketListed,
  orderPlaced,
  quietLogger,
  testKafkaClient,
  topicSize,
  waitFor,
  visibleHead,
  type TestStore,
} from './test-support.ts';

describeWith(getKafka, 'relay (real Kafka, real PostgreSQL)', (tk) => {
  let ts: TestStore;
  let kafka: Kafka;
  let checkpoints: CheckpointStore;
  const prefix = tk.prefix;

  beforeAll(async () => {
    ts = await createTestStore('relay');
    kafka = testKafkaClient(tk.brokers);
    checkpoints = await createPostgresCheckpointStore(ts.pool);
  });
  afterAll(async () => {
    await ts?.close();
    await tk.deleteTopics().catch(() => undefined);
  });

  /** Appends n orders; returns the visible head once the last one can be read. */
  async function appendSome(n: number): Promise<bigint> {
    let last = 0n;
    for (let i = 0; i < n; i++) {
      const o = orderPlaced({ userId: 1 + (i % 3), marketId: 1, side: i % 2 ? 'buy' : 'sell', price: '100', quantity: '1' });
      last = (await ts.store.appendToStream(o.stream, [o.event], { expectedRevision: 'no_stream' })).position;
    }
    return visibleHead(ts.store, last);
  }

  it('publishes every event in global order, routes inboxes, and checkpoints after the ack', async () => {
    await ts.store.appendToStream('markets', [marketListed(1)], { expectedRevision: 'no_stream' });
    await ts.store.appendToStream('account-1', [deposit(1, 'USD', '1000')], { expectedRevision: 'any' });
    const head = await appendSome(20);
    const relay = await startRelay({ store: ts.store, kafka, checkpoints, topicPrefix: prefix, logger: quietLogger, metrics: engineMetrics() });
    await waitFor('relay checkpoint at head', async () => relay.checkpoint() >= head);
    await relay.stop();
    await relay.done;
    expect(await checkpoints.load('relay')).toBe(head);

    const all = await ts.store.readAll();
    const eventMessages = await collectTopic(kafka, topicName(prefix, 'events'), (m) => m.length >= all.length);
    const events = decoded(eventMessages);
    expect(events.map((e) => e.globalPosition)).toEqual(all.map((e) => e.globalPosition));
    expect(events[0]).toEqual(all[0]);
    // 20 orders + 1 deposit go to the account inbox; nothing else.
    expect(await topicSize(kafka, topicName(prefix, 'account-inbox'))).toBe(21);
    expect(await topicSize(kafka, topicName(prefix, 'market-inbox'))).toBe(0);
    const inbox = await collectTopic(kafka, topicName(prefix, 'account-inbox'), (m) => m.length >= 21);
    // Headers (type, position, stream, eventId) on the events topic; inbox messages carry only key and value.
    expect(eventMessages.map((m) => [m.headers?.type?.toString(), m.headers?.position?.toString()])).toEqual(all.map((e) => [e.type, e.globalPosition.toString()]));
    expect(inbox.every((m) => m.headers === undefined || Object.keys(m.headers).length === 0)).toBe(true);
    const byPosition = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);
    expect(decoded(inbox).map((e) => e.globalPosition).sort(byPosition)).toEqual(
      all.filter((e) => e.type === 'OrderPlaced' || e.type === 'FundsDeposited').map((e) => e.globalPosition),
    );
  });

  it('resumes from its checkpoint after a restart, and republishes (never loses) after a crash before the checkpoint', async () => {
    const before = await topicSize(kafka, topicName(prefix, 'events'));
    const head = await appendSome(10);
    // A relay that "dies" between the broker's ack and its checkpoint: the save fails once.
    let failures = 1;
    const flaky: CheckpointStore = {
      load: (n) => checkpoints.load(n),
      save: async (n, p) => {
        if (failures-- > 0) throw new Error('simulated crash before the checkpoint');
        return checkpoints.save(n, p);
      },
    };
    const relay = createRelay({ store: ts.store, kafka, checkpoints: flaky, topicPrefix: prefix, logger: quietLogger, metrics: engineMetrics(), restartBackoff: { initialMs: 10 } });
    await relay.start();
    await waitFor('checkpoint at head', async () => (await checkpoints.load('relay')) >= head);
    await relay.stop();
    const after = await topicSize(kafka, topicName(prefix, 'events'));
    // The first acknowledged batch (some or all of the 10 new events, depending on what the store
    // showed at that moment) was published again after the failed checkpoint; nothing is missing.
    expect(after - before).toBeGreaterThan(10);
    expect(after - before).toBeLessThanOrEqual(20);
    const all = await ts.store.readAll();
    const events = decoded(await collectTopic(kafka, topicName(prefix, 'events'), (m) => m.length >= after));
    expect(new Set(events.map((e) => e.globalPosition))).toEqual(new Set(all.map((e) => e.globalPosition)));

    // A clean restart publishes nothing twice.
    const relay2 = await startRelay({ store: ts.store, kafka, checkpoints, topicPrefix: prefix, logger: quietLogger, metrics: engineMetrics() });
    const head2 = await appendSome(5);
    await waitFor('second relay at head', async () => relay2.checkpoint() >= head2);
    await relay2.stop();
    expect(await topicSize(kafka, topicName(prefix, 'events'))).toBe(after + 5);
  });

  it('writes its checkpoint at most once per checkpointIntervalMs while relaying, and the last acknowledged position on stop', async () => {
    const saves: bigint[] = [];
    const counting: CheckpointStore = {
      load: (n) => checkpoints.load(n),
      save: async (n, p) => {
        saves.push(p);
        await checkpoints.save(n, p);
      },
    };
    const relay = await startRelay({ store: ts.store, kafka, checkpoints: counting, name: 'relay-interval', checkpointIntervalMs: 60_000, topicPrefix: prefix, logger: quietLogger, metrics: engineMetrics() });
    const events = topicName(prefix, 'events');
    // What the log held already: one batch, saved at once (nothing was saved before).
    const backlog = await visibleHead(ts.store, (await ts.store.readAll()).at(-1)!.globalPosition);
    await waitFor('backlog saved', () => Promise.resolve(saves.length === 1 && saves[0] === backlog));
    // Five more batches, each published on its own: none saved within the interval.
    let head = backlog;
    for (let i = 0; i < 5; i++) {
      const size = await topicSize(kafka, events);
      head = await appendSome(1);
      await waitFor(`batch ${i} published`, async () => (await topicSize(kafka, events)) > size);
    }
    expect(saves).toEqual([backlog]);
    expect(relay.checkpoint()).toBe(backlog);
    await relay.stop();
    expect(saves).toEqual([backlog, head]);
    expect(await checkpoints.load('relay-interval')).toBe(head);
    expect(relay.checkpoint()).toBe(head);
  });
});
