/**
 * Topics are created by the project with explicit partitions and settings; the broker's
 * auto-creation stays off. An existing topic with another partition count is an error (keys would
 * move between partitions and break per-account / per-market order).
 */
import { Partitioners, type Admin, type Kafka, type ProducerConfig } from 'kafkajs';
import { TOPIC_SPECS, topicName, type LogicalTopic } from './routing.ts';

export interface EnsureTopicsOptions {
  kafka: Kafka;
  topicPrefix?: string;
  /** 1 for the single local broker; 3 in a real cluster. */
  replicationFactor?: number;
  /** Which topics; default all four. */
  topics?: readonly LogicalTopic[];
  /** How long to wait for partition leaders after creation. Default 30 s. */
  leaderTimeoutMs?: number;
}

export class TopicMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TopicMismatchError';
  }
}

export async function ensureTopics(options: EnsureTopicsOptions): Promise<void> {
  const prefix = options.topicPrefix ?? '';
  const wanted = options.topics ?? (Object.keys(TOPIC_SPECS) as LogicalTopic[]);
  const admin: Admin = options.kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = wanted.filter((t) => !existing.has(topicName(prefix, t)));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => ({
          topic: topicName(prefix, t),
          numPartitions: TOPIC_SPECS[t].partitions,
          replicationFactor: options.replicationFactor ?? 1,
          configEntries: Object.entries(TOPIC_SPECS[t].configs).map(([name, value]) => ({ name, value })),
        })),
      });
    }
    // Wait until every partition has a leader: a producer that sends to a topic the broker is
    // still electing leaders for gets NOT_LEADER errors and backs off for seconds.
    const deadline = Date.now() + (options.leaderTimeoutMs ?? 30_000);
    for (;;) {
      const metadata = await admin.fetchTopicMetadata({ topics: wanted.map((t) => topicName(prefix, t)) });
      let ready = true;
      for (const t of wanted) {
        const name = topicName(prefix, t);
        const found = metadata.topics.find((m) => m.name === name);
        const count = found?.partitions.length ?? 0;
        if (count !== TOPIC_SPECS[t].partitions)
          throw new TopicMismatchError(`topic ${name} has ${count} partitions, expected ${TOPIC_SPECS[t].partitions}`);
        if (found!.partitions.some((p) => p.leader < 0 || p.isr.length === 0)) ready = false;
      }
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`topics under prefix ${JSON.stringify(prefix)} have partitions without a leader`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await admin.disconnect();
  }
}

/**
 * Every engine producer: idempotent, one request in flight (so a retry cannot reorder), explicit
 * partitions (the partitioner is never consulted), retries without a count limit as the idempotent
 * producer requires — a send that hangs is cut off by the relay's send timeout instead.
 */
export const PRODUCER_CONFIG: ProducerConfig = {
  idempotent: true,
  maxInFlightRequests: 1,
  allowAutoTopicCreation: false,
  createPartitioner: Partitioners.DefaultPartitioner,
  retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 2_000 },
};
