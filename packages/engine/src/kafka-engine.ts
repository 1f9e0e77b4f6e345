/**
 * Kafka mode: each handler is a consumer group on its inbox (risk: account-inbox, execution:
 * market-inbox). Partition assignment is ownership: the execution handler owns the markets of its
 * partitions and rebuilds their state when the assignment changes; a rebalance drops every cached
 * state first. Offsets are resolved after the handler finished a batch and committed at most every
 * `commitIntervalMs` (and on graceful stop), not after each batch: kafkajs fetches again only after
 * every batch of a fetch, commit included, is done, so a commit per batch put a broker round trip
 * on every hop. A crash redelivers what was not committed yet, which the handlers skip.
 *
 * A handler that must stop (the store stayed unavailable) crashes its consumer without committing
 * past the batch: `done` rejects, nothing is skipped.
 */
import type { EventStore } from '@tradecore/event-store';
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';
import { kafkaDeadLetterSink, type DeadLetterSink } from './dead-letter.ts';
import { systemClock, type Clock } from './ids.ts';
import type { SnapshotStore } from './snapshots.ts';
import { inputFromMessage, type InboxHandler } from './inbox.ts';
import { defaultLogger, engineMetrics, type EngineMetrics, type Logger } from './observability.ts';
import { OffsetCommitter } from './offset-committer.ts';
import { topicName } from './routing.ts';
import { PRODUCER_CONFIG, ensureTopics } from './topics.ts';
import { createHandlers, type HandlerName, type HandlerTuning } from './handlers.ts';
import type { RunningEngine } from './in-process.ts';

export interface KafkaEngineOptions {
  store: EventStore;
  /** Broker addresses, e.g. ['127.0.0.1:9092']; or pass a configured `kafka`. */
  brokers?: readonly string[];
  kafka?: Kafka;
  topicPrefix?: string;
  clock?: Clock;
  logger?: Logger;
  metrics?: EngineMetrics;
  /** Which handlers to run in this process. Default both. */
  handlers?: readonly HandlerName[];
  /** Consumer group id prefix; the group of a handler is `${groupPrefix}tradecore-${name}`. Default topicPrefix. */
  groupPrefix?: string;
  /** Create the topics if missing (explicit partitions and configs). Default true. */
  createTopics?: boolean;
  replicationFactor?: number;
  /** Partitions a consumer processes concurrently. Default 8. */
  partitionsConsumedConcurrently?: number;
  /** How long the broker holds a fetch for `minBytes` to arrive (kafkajs `minBytes`, `maxWaitTimeInMs`; see `KafkaFetchTuning`). */
  fetch?: KafkaFetchTuning;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Offsets of finished batches are committed this often (and on stop); 0: after every batch. Default 1000. */
  commitIntervalMs?: number;
  deadLetters?: DeadLetterSink;
  /** Order-book snapshots for the execution handler (createPostgresSnapshotStore). Default none. */
  snapshots?: SnapshotStore;
  tuning?: HandlerTuning;
  /** Ownership changes (tests: prove one owner per market). */
  onAssignment?: (handler: HandlerName, partitions: readonly number[]) => void;
  onRevocation?: (handler: HandlerName) => void;
  /** After each processed batch (tests: prove that no two instances process a partition at once). */
  onBatch?: (info: { handler: HandlerName; partition: number; startedAt: number; endedAt: number; count: number }) => void;
  clientId?: string;
}

/**
 * A consumer's fetch: the broker answers once `minBytes` are there or `maxWaitTimeInMs` has passed.
 * At one byte every fetch returned as soon as anything arrived, so at moderate rates each hop
 * fetched, decoded and handled one or two messages at a time (and appended their decisions one
 * transaction each). Holding a fetch up to 10 ms for 64 KiB measured better at 300/s, at 600/s and
 * over a 10-minute soak at 536/s
 * (docs/performance.md, 2026-11-28: at 300/s 13–14 % less server and 13–18 % less PostgreSQL CPU per
 * command, the median command twice as fast; at 600/s command p99 51–64 against 59–97 ms), for up to
 * 10 ms more on each hop at low rates and, at rest, about 0.1 core more (the broker answers every
 * consumer's empty fetch every 10 ms instead of every 100 ms for the handlers and 5 s for the
 * projections: 7 % of a core against 3 % for the server, 7 % against 2 % for the broker).
 */
export interface KafkaFetchTuning {
  minBytes?: number;
  maxWaitTimeInMs?: number;
}

export const DEFAULT_FETCH: Required<KafkaFetchTuning> = { minBytes: 65_536, maxWaitTimeInMs: 10 };

/** What a consumer is configured with: the tuning given, `DEFAULT_FETCH` for what it leaves out. */
export function consumerFetch(tuning?: KafkaFetchTuning): Required<KafkaFetchTuning> {
  return { minBytes: tuning?.minBytes ?? DEFAULT_FETCH.minBytes, maxWaitTimeInMs: tuning?.maxWaitTimeInMs ?? DEFAULT_FETCH.maxWaitTimeInMs };
}

/** The tuning of a process's environment (`KAFKA_FETCH_MIN_BYTES`, `KAFKA_FETCH_MAX_WAIT_MS`, validated by http-kit's `envFields`). */
export function fetchTuningOf(env: { KAFKA_FETCH_MIN_BYTES?: number | undefined; KAFKA_FETCH_MAX_WAIT_MS?: number | undefined }): KafkaFetchTuning {
  return { minBytes: env.KAFKA_FETCH_MIN_BYTES, maxWaitTimeInMs: env.KAFKA_FETCH_MAX_WAIT_MS };
}

export interface KafkaEngine extends RunningEngine {
  /** Currently assigned partitions per handler. */
  assignment(handler: HandlerName): readonly number[];
}

export function kafkaClient(brokers: readonly string[], clientId = 'tradecore-engine'): Kafka {
  return new Kafka({
    clientId,
    brokers: [...brokers],
    logLevel: logLevel.WARN,
    retry: { initialRetryTime: 100, retries: 8 },
  });
}

export async function startKafkaEngine(options: KafkaEngineOptions): Promise<KafkaEngine> {
  if (!options.kafka && !options.brokers) throw new Error('startKafkaEngine needs brokers or a kafka client');
  const kafka = options.kafka ?? kafkaClient(options.brokers!, options.clientId);
  const prefix = options.topicPrefix ?? '';
  const groupPrefix = options.groupPrefix ?? prefix;
  const clock = options.clock ?? systemClock;
  const logger = (options.logger ?? defaultLogger()).child({ component: 'engine', mode: 'kafka' });
  const metrics = options.metrics ?? engineMetrics();
  const abort = new AbortController();
  if (options.createTopics ?? true) await ensureTopics({ kafka, topicPrefix: prefix, replicationFactor: options.replicationFactor });

  let dlqProducer: Producer | undefined;
  let deadLetters = options.deadLetters;
  if (!deadLetters) {
    dlqProducer = kafka.producer(PRODUCER_CONFIG);
    await dlqProducer.connect();
    deadLetters = kafkaDeadLetterSink(dlqProducer, topicName(prefix, 'dead-letter'));
  }
  const names = options.handlers ?? ['risk', 'execution'];
  const handlers = createHandlers(names, { store: options.store, clock, logger, metrics, deadLetters, signal: abort.signal, tuning: options.tuning, snapshots: options.snapshots });

  let resolveDone!: () => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  done.catch(() => undefined);

  const consumers: Consumer[] = [];
  const assignments = new Map<string, readonly number[]>();
  let stopping = false;

  const commitIntervalMs = options.commitIntervalMs ?? 1_000;
  const committers: { consumer: Consumer; topic: string; offsets: OffsetCommitter }[] = [];

  async function startConsumer(handler: InboxHandler): Promise<Consumer> {
    const topic = topicName(prefix, handler.inbox);
    const consumer = kafka.consumer({
      groupId: `${groupPrefix}tradecore-${handler.name}`,
      allowAutoTopicCreation: false,
      sessionTimeout: options.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: options.heartbeatIntervalMs ?? 1_000,
      rebalanceTimeout: 30_000,
      ...consumerFetch(options.fetch),
      retry: { retries: 5, initialRetryTime: 200, restartOnFailure: async () => false },
    });
    // Ownership: the rebuild for a new assignment runs before the first batch is processed.
    let ready: Promise<void> = Promise.resolve();
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const partitions = [...(payload.memberAssignment[topic] ?? [])].sort((a, b) => a - b);
      assignments.set(handler.name, partitions);
      logger.info({ handler: handler.name, partitions, generation: payload.groupId }, 'partitions assigned');
      options.onAssignment?.(handler.name as HandlerName, partitions);
      ready = handler.assigned(partitions);
      ready.catch(() => undefined);
    });
    const offsets = new OffsetCommitter(consumer, topic, commitIntervalMs, (e) => logger.warn({ err: e, topic }, 'committing consumer offsets failed'));
    committers.push({ consumer, topic, offsets });
    consumer.on(consumer.events.REBALANCING, () => {
      // Offsets of partitions this member may lose are left to the next owner (it skips the redelivery).
      offsets.forget();
      assignments.set(handler.name, []);
      handler.revoked();
      options.onRevocation?.(handler.name as HandlerName);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (stopping) return;
      logger.error({ handler: handler.name, err: payload.error, restart: payload.restart }, 'consumer crashed');
      if (!payload.restart) {
        handler.revoked();
        rejectDone(payload.error);
      }
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 8,
      eachBatchAutoResolve: false,
      autoCommit: false,
      eachBatch: async (payload) => {
        const { batch } = payload;
        await ready;
        if (!payload.isRunning() || payload.isStale() || batch.messages.length === 0) return;
        await offsets.track(async () => {
          const inputs = batch.messages.map((m) => inputFromMessage(topic, batch.partition, m));
          const startedAt = Date.now();
          await handler.handle(batch.partition, inputs);
          options.onBatch?.({ handler: handler.name as HandlerName, partition: batch.partition, startedAt, endedAt: Date.now(), count: inputs.length });
          payload.resolveOffset(batch.lastOffset());
          await offsets.finished(batch.partition, batch.lastOffset());
          await payload.heartbeat();
        });
      },
    });
    offsets.start();
    return consumer;
  }

  try {
    for (const h of handlers) consumers.push(await startConsumer(h));
  } catch (e) {
    abort.abort();
    await Promise.all(consumers.map((c) => c.disconnect().catch(() => undefined)));
    await dlqProducer?.disconnect().catch(() => undefined);
    throw e;
  }

  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        stopping = true;
        // Stop fetching, let the batches in flight finish, commit what they finished, then leave
        // (disconnect() itself commits nothing with autoCommit off).
        await Promise.all(
          committers.map(async (c) => {
            try {
              c.consumer.pause([{ topic: c.topic }]);
            } catch (e) {
              logger.debug({ err: e, topic: c.topic }, 'pausing before stop failed (consumer not running)');
            }
            await c.offsets.stop();
          }),
        );
        await Promise.all(consumers.map((c) => c.disconnect()));
        abort.abort();
        for (const h of handlers) h.revoked();
        await dlqProducer?.disconnect();
        resolveDone();
      })();
      return stopped;
    },
    done,
    assignment: (name) => assignments.get(name) ?? [],
  };
}
