/**
 * The relay: reads the event store in global order from its checkpoint and publishes every event
 * to Kafka (routeEvent: the events topic plus the inboxes) with an idempotent producer, one
 * producer batch per read batch (split only where a partition's records would pass the size limit), and saves its checkpoint only after the broker acknowledged the
 * batch (acks = all), in the background (the next read does not wait for the write) and at most every checkpointIntervalMs. A crash between ack and checkpoint republishes the batch: duplicates are
 * allowed (handlers are idempotent), losses are not.
 *
 * On an error (store unavailable, broker gone) the relay stops reading, waits with a bounded
 * backoff and resumes from its saved checkpoint: it never skips.
 */
import type { EventStore, RawRecordedEvent, RecordedEvent, Subscription } from '@tradecore/event-store';
import type { Kafka, Message, Producer, TopicMessages } from 'kafkajs';
import { backoffDelay, sleep } from './backoff.ts';
import type { CheckpointStore } from './checkpoints.ts';
import { encodeRawRecordedEvent, encodeRecordedEvent, eventHeaders } from './codec.ts';
import { correlationIdOf } from './dead-letter.ts';
import { defaultLogger, engineMetrics, type EngineMetrics, type Logger } from './observability.ts';
import { ROUTING_FIELDS, routeEvent, topicName, type LogicalTopic, type Route } from './routing.ts';
import { PRODUCER_CONFIG, ensureTopics } from './topics.ts';

export interface RelayOptions {
  store: EventStore;
  kafka: Kafka;
  checkpoints: CheckpointStore;
  /** Deployment topic prefix (tests: testkit's per-test prefix). Default ''. */
  topicPrefix?: string;
  /** Checkpoint name. Default 'relay'. */
  name?: string;
  /** Events per read batch (= per producer batch). Default 1000. */
  batchSize?: number;
  /** Create the topics (explicit partitions and configs) before relaying. Default true. */
  createTopics?: boolean;
  replicationFactor?: number;
  logger?: Logger;
  metrics?: EngineMetrics;
  /** Backoff between restarts after an error. */
  restartBackoff?: { initialMs?: number; maxMs?: number };
  /** A produce request not acknowledged within this time fails the batch (resent by a fresh producer). Default 30 s. */
  sendTimeoutMs?: number;
  /**
   * Read the store raw (subscribeToAllRaw, where the store has it): data and metadata go from the
   * store into the messages as JSON texts, never parsed and serialised again. Default true; false
   * (or a store without it) reads parsed events. The messages decode to the same events either way.
   */
  rawReads?: boolean;
  /**
   * At most one checkpoint write per this many milliseconds while relaying (stop and onBatch save
   * at once). A crash republishes what was acknowledged since the last write, at most this much
   * (the consumers skip what they have applied). Default 250; 0: after every batch.
   */
  checkpointIntervalMs?: number;
  /** Called after each acknowledged and checkpointed batch (tests, benchmarks). */
  onBatch?: (info: { count: number; lastPosition: bigint }) => void;
}

export interface Relay {
  start(): Promise<void>;
  /** Finishes the in-flight batch (publish + checkpoint), then disconnects. */
  stop(): Promise<void>;
  /** Resolves after stop(). */
  readonly done: Promise<void>;
  /** Last position acknowledged by the broker and saved. */
  checkpoint(): bigint;
}

/** Bytes of one partition's records per produce request: below the broker's 1 MiB default. */
export const MAX_PARTITION_BYTES = 768 * 1024;

/** What the relay needs of an event, read parsed (RecordedEvent) or raw (RawRecordedEvent). */
interface Relayable {
  eventId: string;
  stream: string;
  type: string;
  globalPosition: bigint;
  recordedAt: string;
}

/**
 * The messages of a read batch, in global order, as produce requests: one request unless a
 * partition's records would pass `maxPartitionBytes` (a 1,000-event batch to the single-partition
 * events topic does), then several, sent one after the other so per-partition order is kept.
 */
function buildRequests<E extends Relayable>(
  events: readonly E[],
  topicPrefix: string,
  maxPartitionBytes: number,
  encode: (e: E) => Buffer,
  routesOf: (e: E) => Route[],
  onUnroutable: ((e: E) => void) | undefined,
): TopicMessages[][] {
  const requests: TopicMessages[][] = [];
  let byTopic = new Map<LogicalTopic, Message[]>();
  let bytes = new Map<string, number>();
  const flush = () => {
    if (byTopic.size === 0) return;
    requests.push([...byTopic].map(([t, messages]) => ({ topic: topicName(topicPrefix, t), messages })));
    byTopic = new Map();
    bytes = new Map();
  };
  for (const e of events) {
    const value = encode(e);
    const headers = eventHeaders(e);
    const routes = routesOf(e);
    const size = value.length + 200;
    if (routes.some((r) => (bytes.get(`${r.topic}/${r.partition}`) ?? 0) + size > maxPartitionBytes)) flush();
    if (onUnroutable && routes.some((r) => r.topic === 'dead-letter')) onUnroutable(e);
    for (const route of routes) {
      let list = byTopic.get(route.topic);
      if (!list) byTopic.set(route.topic, (list = []));
      // Inbox messages carry no headers: only the handlers read them and they decode the value
      // (headers cost the relay an encoder per header and each consumer two reads per header).
      const message: Message =
        route.topic === 'events'
          ? { key: route.key, value, partition: route.partition, headers }
          : route.topic === 'dead-letter'
            ? { key: route.key, value, partition: route.partition, headers: { ...headers, error: 'unroutable: key fields missing', source: 'relay' } }
            : { key: route.key, value, partition: route.partition };
      list.push(message);
      const k = `${route.topic}/${route.partition}`;
      bytes.set(k, (bytes.get(k) ?? 0) + size);
    }
  }
  flush();
  return requests;
}

/** buildRequests for events read parsed. */
export function buildTopicMessages(
  events: readonly RecordedEvent[],
  topicPrefix: string,
  maxPartitionBytes = MAX_PARTITION_BYTES,
  /** Called for each event that can reach no handler (sent to the dead-letter topic). */
  onUnroutable?: (e: RecordedEvent) => void,
): TopicMessages[][] {
  return buildRequests(events, topicPrefix, maxPartitionBytes, encodeRecordedEvent, routeEvent, onUnroutable);
}

/** buildRequests for events read raw: routed by their ROUTING_FIELDS, data and metadata spliced in as stored. */
export function buildRawTopicMessages(
  events: readonly RawRecordedEvent[],
  topicPrefix: string,
  maxPartitionBytes = MAX_PARTITION_BYTES,
  onUnroutable?: (e: RawRecordedEvent) => void,
): TopicMessages[][] {
  return buildRequests(events, topicPrefix, maxPartitionBytes, encodeRawRecordedEvent, (e) => routeEvent({ type: e.type, stream: e.stream, data: e.fields }), onUnroutable);
}

/** correlationIdOf for a raw event (its metadata parsed: only for the rare log line that needs it). */
function rawCorrelationId(e: RawRecordedEvent): string | undefined {
  try {
    return correlationIdOf({ eventId: e.eventId, metadata: JSON.parse(e.metadataJson) as RecordedEvent['metadata'] });
  } catch {
    return e.eventId;
  }
}

export function createRelay(options: RelayOptions): Relay {
  const name = options.name ?? 'relay';
  const prefix = options.topicPrefix ?? '';
  const batchSize = options.batchSize ?? 1000;
  const sendTimeoutMs = options.sendTimeoutMs ?? 30_000;
  const checkpointIntervalMs = options.checkpointIntervalMs ?? 250;
  if (!Number.isSafeInteger(checkpointIntervalMs) || checkpointIntervalMs < 0) throw new RangeError('checkpointIntervalMs must be a non-negative integer');
  const logger = (options.logger ?? defaultLogger()).child({ component: 'relay', relay: name });
  const metrics = options.metrics ?? engineMetrics();
  const abort = new AbortController();
  let producer: Producer | undefined;
  let subscription: Subscription | undefined;
  let position = 0n;
  let started = false;
  let resolveDone!: () => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  let loop: Promise<void> | undefined;

  function newProducer(): Producer {
    return options.kafka.producer(PRODUCER_CONFIG);
  }

  /** A send that has not been acknowledged within the timeout fails the batch (the relay restarts with a fresh producer). */
  async function send(p: Producer, topicMessages: TopicMessages[]): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        p.sendBatch({ topicMessages, acks: -1 }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`the broker did not acknowledge a batch within ${sendTimeoutMs} ms`)), sendTimeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  // Checkpoint writes run beside the relay loop, one at a time, each saving the newest acknowledged
  // position, at most one per checkpointIntervalMs: the next read does not wait for a database
  // round trip, and a run of small batches (one per append at low rates) costs one write instead of
  // one each. Only acknowledged positions are ever saved; a crash loses at most the writes still
  // pending, and the batches after the saved position are sent again.
  let acked = 0n;
  let saved = 0n;
  let saving: Promise<void> | undefined;
  let saveError: Error | undefined;
  let lastSaveAt = Number.NEGATIVE_INFINITY;
  let flushing = 0;
  let endInterval: (() => void) | undefined;
  function saveCheckpoint(): Promise<void> {
    const sub = subscription;
    saving ??= (async () => {
      try {
        while (saved < acked) {
          const wait = lastSaveAt + checkpointIntervalMs - performance.now();
          if (wait > 0 && flushing === 0) {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, wait);
              endInterval = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            endInterval = undefined;
          }
          const target = acked;
          lastSaveAt = performance.now();
          await options.checkpoints.save(name, target);
          saved = target;
          position = target;
        }
      } catch (e) {
        // As a crash before the checkpoint: end this subscription, resume from the saved checkpoint
        // after a backoff and publish the unsaved batches again (duplicates, never losses).
        saveError = e instanceof Error ? e : new Error(String(e));
        void sub?.close();
      } finally {
        saving = undefined;
      }
    })();
    return saving;
  }
  /** Saves every acknowledged position now; rethrows a failed save (the loop restarts). */
  async function flushCheckpoint(): Promise<void> {
    flushing++;
    try {
      endInterval?.();
      while (saving) await saving;
      if (saved < acked && saveError === undefined) await saveCheckpoint();
    } finally {
      flushing--;
    }
    if (saveError !== undefined) {
      const e = saveError;
      saveError = undefined;
      // Forget what was acknowledged but not saved, as a crash would: the restart republishes it.
      acked = saved;
      throw e;
    }
  }

  const warnUnroutable = (e: Relayable, correlationId: string | undefined): void =>
    logger.warn(
      { eventId: e.eventId, type: e.type, stream: e.stream, position: e.globalPosition.toString(), correlationId },
      'event has no routing key fields; published to the dead-letter topic',
    );
  const publishParsed = (events: readonly RecordedEvent[]): Promise<void> =>
    publish(events, () => buildTopicMessages(events, prefix, MAX_PARTITION_BYTES, (e) => warnUnroutable(e, correlationIdOf(e))));
  const publishRaw = (events: readonly RawRecordedEvent[]): Promise<void> =>
    publish(events, () => buildRawTopicMessages(events, prefix, MAX_PARTITION_BYTES, (e) => warnUnroutable(e, rawCorrelationId(e))));

  async function publish(events: readonly Relayable[], build: () => TopicMessages[][]): Promise<void> {
    if (events.length === 0 || !producer) return;
    // A checkpoint that could not be saved stops this subscription: the relay resumes from the saved one.
    if (saveError !== undefined) await flushCheckpoint();
    const end = metrics.relayBatchSeconds.startTimer();
    const requests = build();
    for (const topicMessages of requests) await send(producer, topicMessages);
    const last = events[events.length - 1]!.globalPosition;
    const oldest = Date.parse(events[0]!.recordedAt);
    if (Number.isFinite(oldest)) metrics.relayedAgeSeconds.observe(Math.max(0, Date.now() - oldest) / 1000);
    acked = last;
    void saveCheckpoint();
    for (const topicMessages of requests) for (const tm of topicMessages) metrics.relayed.inc({ topic: tm.topic }, tm.messages.length);
    end();
    if (options.onBatch) {
      // Callers of onBatch (tests) are promised a saved checkpoint.
      await flushCheckpoint();
      options.onBatch({ count: events.length, lastPosition: last });
    }
  }

  async function runOnce(): Promise<void> {
    // A save left running by a failed round lands first, so the load below sees it.
    await flushCheckpoint().catch(() => undefined);
    position = await options.checkpoints.load(name);
    acked = position;
    saved = position;
    // stop() may have been called while the checkpoint loaded: then there is nothing to close later.
    if (abort.signal.aborted) return;
    logger.info({ from: position.toString() }, 'relay subscribing from checkpoint');
    const store = options.store;
    subscription =
      options.rawReads !== false && store.subscribeToAllRaw
        ? store.subscribeToAllRaw(publishRaw, { fromPosition: position, batchSize, fields: ROUTING_FIELDS })
        : store.subscribeToAll(publishParsed, { fromPosition: position, batchSize });
    try {
      await subscription.done;
    } finally {
      subscription = undefined;
    }
    await flushCheckpoint();
  }

  async function supervise(): Promise<void> {
    let attempt = 0;
    while (!abort.signal.aborted) {
      try {
        await runOnce();
        if (abort.signal.aborted) break;
        attempt = 0;
      } catch (e) {
        if (abort.signal.aborted) break;
        attempt += 1;
        const delay = backoffDelay(attempt, { initialMs: 100, maxMs: 5_000, ...options.restartBackoff });
        logger.error({ err: e, attempt, delayMs: delay, checkpoint: position.toString() }, 'relay stopped on an error; resuming from its checkpoint after a backoff');
        // A producer that failed may hold a stuck request: resend with a fresh one (duplicates are allowed).
        const old = producer;
        producer = newProducer();
        void old?.disconnect().catch(() => undefined);
        await sleep(delay, abort.signal);
        if (!abort.signal.aborted) await producer.connect().catch((err: unknown) => logger.warn({ err }, 'producer connect failed'));
      }
    }
  }

  return {
    async start() {
      if (started) return;
      started = true;
      if (options.createTopics ?? true)
        await ensureTopics({ kafka: options.kafka, topicPrefix: prefix, replicationFactor: options.replicationFactor });
      producer = newProducer();
      await producer.connect();
      loop = supervise().then(resolveDone, rejectDone);
    },
    async stop() {
      abort.abort();
      // close() resolves once the in-flight handler call (publish + checkpoint) has finished.
      await subscription?.close().catch((e: unknown) => logger.warn({ err: e }, 'closing the subscription failed'));
      await loop;
      await producer?.disconnect();
      logger.debug('relay stopped');
      if (!loop) resolveDone();
    },
    done,
    checkpoint: () => position,
  };
}

/** Creates and starts a relay. */
export async function startRelay(options: RelayOptions): Promise<Relay> {
  const relay = createRelay(options);
  await relay.start();
  return relay;
}
