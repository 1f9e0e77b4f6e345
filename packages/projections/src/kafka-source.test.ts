/**
 * Projections fed from a real Kafka topic: offsets committed on an interval and on stop, and a
 * redelivery of everything (offsets lost, as after a crash before any commit) applies nothing twice.
 */
import { DEFAULT_FETCH, encodeRecordedEvent, ensureTopics, kafkaClient, topicName } from '@tradecore/engine';
import { createTestDatabase, getKafka, type TestDatabase } from '@tradecore/testkit';
import type { Admin, ConsumerConfig, Kafka, Producer } from 'kafkajs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKafkaProjections } from './kafka-source.ts';
import { createProjector, snapshotReadModels } from './index.ts';
import { generateHistory } from './testing/index.ts';

const tk = await getKafka();
if ('skip' in tk) console.warn(`[skip] projections from Kafka: ${tk.skip}`);

describe.skipIf('skip' in tk)('startKafkaProjections (real broker)', { timeout: 120_000 }, () => {
  const history = generateHistory({ events: 1_500, seed: 11, users: 6, markets: 2 });
  let db: TestDatabase;
  let pool: pg.Pool;
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  const prefix = 'skip' in tk ? '' : tk.topicPrefix('proj-kafka-');
  const topic = topicName(prefix, 'events');
  const groupId = `${prefix}projections-test`;

  beforeAll(async () => {
    if ('skip' in tk) return;
    db = await createTestDatabase('proj_kafka');
    pool = new pg.Pool({ connectionString: db.url, max: 6 });
    kafka = kafkaClient(tk.brokers, 'projections-test');
    await ensureTopics({ kafka, topicPrefix: prefix, topics: ['events'] });
    admin = kafka.admin();
    await admin.connect();
    producer = kafka.producer();
    await producer.connect();
  });
  afterAll(async () => {
    await producer?.disconnect();
    await admin?.disconnect();
    if (!('skip' in tk)) await tk.deleteTopics();
    await pool?.end();
    await db?.drop();
  });

  const publish = (from: number, to: number) =>
    producer.send({ topic, messages: history.events.slice(from, to).map((e) => ({ key: e.stream, value: encodeRecordedEvent(e) })) });
  const committed = async (): Promise<string | undefined> => {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return t?.partitions.find((p) => p.partition === 0)?.offset;
  };
  const waitFor = async (check: () => Promise<boolean>, what: string) => {
    const deadline = Date.now() + 60_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('commits on its interval and on stop; after losing every commit, the redelivery changes nothing', async () => {
    const projector = createProjector({ pool, schema: 'rm_kafka', notify: false });
    await projector.migrate();
    const at = (i: number) => history.events[i - 1]!.globalPosition;

    await publish(0, 1_000);
    // The consumer fetches as told (the first with DEFAULT_FETCH, the second with its own tuning).
    const consumerConfigs: ConsumerConfig[] = [];
    const consumer = kafka.consumer.bind(kafka);
    kafka.consumer = (config) => (consumerConfigs.push(config), consumer(config));
    const first = await startKafkaProjections({ kafka, topicPrefix: prefix, projector, groupId, commitIntervalMs: 200 });
    await waitFor(async () => (await projector.position()) === at(1_000), 'the first 1,000 events projected');
    // Committed by the interval, without a stop.
    await waitFor(async () => (await committed()) === '1000', 'the interval commit');
    await publish(1_000, 1_200);
    await waitFor(async () => (await projector.position()) === at(1_200), '1,200 events projected');
    await first.stop();
    expect(await committed()).toBe('1200');

    // A consumer with no interval commits only on stop.
    await publish(1_200, 1_300);
    const second = await startKafkaProjections({ kafka, topicPrefix: prefix, projector, groupId, commitIntervalMs: 60_000, fetch: { minBytes: 1, maxWaitTimeInMs: 250 } });
    expect(consumerConfigs.map((c) => [c.minBytes, c.maxWaitTimeInMs])).toEqual([
      [DEFAULT_FETCH.minBytes, DEFAULT_FETCH.maxWaitTimeInMs],
      [1, 250],
    ]);
    await waitFor(async () => (await projector.position()) === at(1_300), '1,300 events projected');
    expect(await committed()).toBe('1200');
    await second.stop();
    expect(await committed()).toBe('1300');

    // Every commit lost (a crash before any): the whole topic is delivered again, plus the rest.
    await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '0' }] });
    const all = history.events.length;
    await publish(1_300, all);
    const third = await startKafkaProjections({ kafka, topicPrefix: prefix, projector, groupId });
    await waitFor(async () => (await projector.position()) === at(all), 'every event projected');
    await third.stop();
    expect(await committed()).toBe(String(all));

    // The same read models as the history applied once, directly.
    const direct = createProjector({ pool, schema: 'rm_direct', notify: false });
    await direct.migrate();
    await direct.apply(history.events);
    expect(await snapshotReadModels(pool, 'rm_kafka')).toEqual(await snapshotReadModels(pool, 'rm_direct'));
  });
});
