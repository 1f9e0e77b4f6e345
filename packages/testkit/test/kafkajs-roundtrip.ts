/**
 * kafkajs 2.2.4 against a real broker: admin, idempotent + transactional produce, consumer-group
 * consume and commit, offset fetch, group describe, topic delete. Used to choose the Kafka version
 * of infra/kafka-local (see its README) and by the kit's own test.
 *
 *   npx tsx packages/testkit/test/kafkajs-roundtrip.ts [brokers=127.0.0.1:9092]
 */
import kafkajs from 'kafkajs';
import type { Admin } from 'kafkajs';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';

// kafkajs is CommonJS; not all of its exports are visible as ESM named exports.
const { CompressionTypes, ConfigResourceTypes, Kafka, logLevel } = kafkajs;

export interface RoundTripReport {
  topic: string;
  produced: number;
  consumed: number;
  committedOffsets: number;
  groupState: string;
  /** Extra admin/transaction APIs exercised beyond produce/consume. */
  extras: string[];
}

export async function kafkajsRoundTrip(brokers: string[], topic: string, log = (_: string) => {}): Promise<RoundTripReport> {
  const kafka = new Kafka({ clientId: 'tradecore-kafka-check', brokers, logLevel: logLevel.WARN, retry: { retries: 3 } });
  const admin = kafka.admin();
  await admin.connect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const txProducer = kafka.producer({ transactionalId: `${topic}-tx`, idempotent: true, maxInFlightRequests: 1 });
  const groupId = `${topic}-group`;
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
  try {
    const created = await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
    log(`createTopics -> ${created}`);
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    log(`metadata: ${meta.topics[0]?.partitions.length} partitions`);

    await producer.connect();
    const plain = Array.from({ length: 9 }, (_, i) => ({ key: `k${i % 3}`, value: `plain-${i}` }));
    await producer.send({ topic, acks: -1, messages: plain });
    log('idempotent produce ok');

    await producer.send({ topic, compression: CompressionTypes.GZIP, messages: [{ key: 'k1', value: 'gzip-0' }] });
    log('gzip produce ok');

    await txProducer.connect();
    const tx = await txProducer.transaction();
    await tx.send({ topic, messages: [{ key: 'k0', value: 'tx-0' }] });
    await tx.sendOffsets({ consumerGroupId: `${groupId}-tx`, topics: [{ topic, partitions: [{ partition: 0, offset: '1' }] }] });
    await tx.commit();
    const aborted = await txProducer.transaction();
    await aborted.send({ topic, messages: [{ key: 'k2', value: 'aborted-0' }] });
    await aborted.abort();
    log('transactional produce + sendOffsets + abort ok');
    const produced = plain.length + 2;

    const seen: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`consumed ${seen.length}/${produced} within 30s`)), 30_000);
      void consumer.run({
        autoCommit: false,
        eachMessage: async ({ topic: t, partition, message }) => {
          seen.push(message.value?.toString() ?? '');
          await consumer.commitOffsets([{ topic: t, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
          if (seen.length >= produced) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await done;
    log(`consumer group consumed ${seen.length} messages`);

    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committed = offsets.flatMap((t) => t.partitions).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
    const groups = await admin.describeGroups([groupId]);
    const groupState = groups.groups[0]?.state ?? 'unknown';
    log(`committed offsets sum=${committed}, group state=${groupState}`);
    if (seen.includes('aborted-0')) throw new Error('read_committed consumer saw an aborted message');
    await consumer.disconnect();

    const extras: string[] = [];
    const configs = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] });
    extras.push(`describeConfigs(${configs.resources[0]?.configEntries.length ?? 0} entries)`);
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] });
    extras.push('alterConfigs');
    await admin.createPartitions({ topicPartitions: [{ topic, count: 4 }] });
    extras.push('createPartitions');
    // createPartitions returns before the new partition has a leader, and the broker answers
    // NOT_LEADER_FOR_PARTITION until it does; kafkajs' listOffsets bails on that error instead of
    // retrying it (only UNKNOWN_TOPIC_OR_PARTITION is retried), so wait for the leader here, and
    // retry while the broker itself has not caught up with the metadata it already reports.
    await waitForLeaders(admin, topic, 4);
    const byTime = await whileNotLeader(() => admin.fetchTopicOffsetsByTimestamp(topic, Date.now() - 60_000));
    extras.push(`listOffsets(byTimestamp, ${byTime.length} partitions)`);
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '-1' }] });
    extras.push('deleteRecords');
    const groups2 = await admin.listGroups();
    extras.push(`listGroups(${groups2.groups.length})`);
    await admin.resetOffsets({ groupId, topic, earliest: true });
    extras.push('resetOffsets');
    await admin.deleteGroups([groupId]);
    extras.push('deleteGroups');
    await admin.deleteTopics({ topics: [topic] });
    extras.push('deleteTopics');
    log(`admin ok: ${extras.join(', ')}`);
    return { topic, produced, consumed: seen.length, committedOffsets: committed, groupState, extras };
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    await txProducer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}

const LEADER_WAIT_MS = 30_000;

async function waitForLeaders(admin: Admin, topic: string, partitions: number): Promise<void> {
  const deadline = Date.now() + LEADER_WAIT_MS;
  for (;;) {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const found = meta.topics[0]?.partitions ?? [];
    if (found.length === partitions && found.every((p) => p.leader >= 0 && p.isr.length > 0)) return;
    if (Date.now() > deadline) throw new Error(`${topic}: ${partitions} partitions with a leader not seen within ${LEADER_WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs `attempt` again while the broker says it is not yet the leader, for up to LEADER_WAIT_MS. */
async function whileNotLeader<T>(attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LEADER_WAIT_MS;
  for (;;) {
    try {
      return await attempt();
    } catch (e) {
      const type = (e as { type?: unknown }).type;
      if (type !== 'NOT_LEADER_FOR_PARTITION' || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const brokers = (process.argv[2] ?? process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  const topic = `kafkajs-check-${randomBytes(4).toString('hex')}`;
  kafkajsRoundTrip(brokers, topic, (m) => console.log(`  ${m}`)).then(
    (r) => console.log(`ROUND TRIP OK ${JSON.stringify(r)}`),
    (e: unknown) => {
      console.log(`ROUND TRIP FAILED: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      process.exitCode = 1;
    },
  );
}
