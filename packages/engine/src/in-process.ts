/**
 * Single-node mode: no relay and no Kafka. One event-store subscription (from a checkpoint in
 * engine_checkpoints) routes every event with the same `routeEvent` as the relay and hands the
 * inbox routes to the same handlers, partition by partition, in global order. The checkpoint is
 * saved after the handlers finished the batch; a crash redelivers the batch, which the handlers
 * skip (exactly-once effects). Poison inputs go to the engine_dead_letters table.
 */
import type { AccountDecider, MarketDecider } from '@tradecore/core-domain';
import type { EventStore, RecordedEvent, Subscription } from '@tradecore/event-store';
import type pg from 'pg';
import { backoffDelay, sleep } from './backoff.ts';
import { createPostgresCheckpointStore, type CheckpointStore } from './checkpoints.ts';
import { forEachLimit } from './concurrency.ts';
import { correlationIdOf, postgresDeadLetterSink, type DeadLetterSink } from './dead-letter.ts';
import { systemClock, type Clock } from './ids.ts';
import { createPostgresSnapshotStore, type SnapshotStore } from './snapshots.ts';
import { inputFromEvent, type InboxHandler, type InboxInput } from './inbox.ts';
import { defaultLogger, engineMetrics, type EngineMetrics, type Logger } from './observability.ts';
import { MARKET_INBOX_PARTITIONS, ACCOUNT_INBOX_PARTITIONS, routeEvent } from './routing.ts';
import { createHandlers, type HandlerName, type HandlerTuning } from './handlers.ts';

export interface InProcessEngineOptions {
  store: EventStore;
  /** PostgreSQL pool for engine_checkpoints and engine_dead_letters. */
  pool: pg.Pool;
  clock?: Clock;
  logger?: Logger;
  metrics?: EngineMetrics;
  /** Checkpoint name. Default 'engine-in-process'. */
  checkpointName?: string;
  /** Which handlers to run. Default both. */
  handlers?: readonly HandlerName[];
  /** Events per subscription batch. Default 500. */
  batchSize?: number;
  checkpoints?: CheckpointStore;
  deadLetters?: DeadLetterSink;
  /** Order-book snapshots. Default: the engine_snapshots table in `pool`. */
  snapshots?: SnapshotStore;
  tuning?: HandlerTuning;
  /** The execution handler's market decider (HandlerDeps.marketDecider; tests). */
  marketDecider?: MarketDecider;
  /** The risk handler's account decider (HandlerDeps.accountDecider; tests). */
  accountDecider?: AccountDecider;
  /** Called after each batch was handled and checkpointed (tests). */
  onBatch?: (info: { count: number; lastPosition: bigint }) => void;
}

export interface RunningEngine {
  /** Finishes the in-flight batch, saves the checkpoint, stops. */
  stop(): Promise<void>;
  /** Resolves after stop(); rejects if the engine stopped on an error (HandlerStoppedError). */
  readonly done: Promise<void>;
}

export async function startInProcessEngine(options: InProcessEngineOptions): Promise<RunningEngine & { checkpoint(): bigint }> {
  const clock = options.clock ?? systemClock;
  const logger = (options.logger ?? defaultLogger()).child({ component: 'engine', mode: 'in-process' });
  const metrics = options.metrics ?? engineMetrics();
  const name = options.checkpointName ?? 'engine-in-process';
  const checkpoints = options.checkpoints ?? (await createPostgresCheckpointStore(options.pool, { now: () => clock.now() }));
  const deadLetters = options.deadLetters ?? (await postgresDeadLetterSink(options.pool, () => clock.now()));
  const snapshots = options.snapshots ?? (await createPostgresSnapshotStore(options.pool, () => clock.now()));
  const abort = new AbortController();
  const handlers = createHandlers(options.handlers ?? ['risk', 'execution'], {
    snapshots,
    store: options.store,
    clock,
    logger,
    metrics,
    deadLetters,
    signal: abort.signal,
    tuning: options.tuning,
    marketDecider: options.marketDecider,
    accountDecider: options.accountDecider,
  });
  for (const h of handlers)
    await h.assigned(Array.from({ length: h.inbox === 'account-inbox' ? ACCOUNT_INBOX_PARTITIONS : MARKET_INBOX_PARTITIONS }, (_, i) => i));

  let position = await checkpoints.load(name);

  async function onEvents(events: readonly RecordedEvent[]): Promise<void> {
    if (events.length === 0) return;
    const work: Array<{ handler: InboxHandler; partition: number; inputs: InboxInput[] }> = [];
    const index = new Map<string, InboxInput[]>();
    for (const e of events) {
      for (const route of routeEvent(e)) {
        if (route.topic === 'dead-letter')
          logger.warn(
            { eventId: e.eventId, type: e.type, stream: e.stream, position: e.globalPosition.toString(), correlationId: correlationIdOf(e) },
            'event has no routing key fields; no handler can decide it',
          );
        if (route.topic !== 'account-inbox' && route.topic !== 'market-inbox') continue;
        for (const handler of handlers) {
          if (handler.inbox !== route.topic) continue;
          const k = `${handler.name}/${route.partition}`;
          let inputs = index.get(k);
          if (!inputs) {
            index.set(k, (inputs = []));
            work.push({ handler, partition: route.partition, inputs });
          }
          inputs.push(inputFromEvent(e, route.key, route.partition));
        }
      }
    }
    await forEachLimit(work, 16, (w) => w.handler.handle(w.partition, w.inputs));
    const last = events[events.length - 1]!.globalPosition;
    await checkpoints.save(name, last);
    position = last;
    options.onBatch?.({ count: events.length, lastPosition: last });
  }

  let subscription: Subscription | undefined;
  let resolveDone!: () => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  // Unobserved rejections must not crash the process before the caller looks at `done`.
  done.catch(() => undefined);

  const loop = (async () => {
    let attempt = 0;
    while (!abort.signal.aborted) {
      position = await checkpoints.load(name).catch(() => position);
      if (abort.signal.aborted) break;
      logger.info({ from: position.toString() }, 'in-process engine subscribing from checkpoint');
      subscription = options.store.subscribeToAll(onEvents, { fromPosition: position, batchSize: options.batchSize ?? 500 });
      try {
        await subscription.done;
        attempt = 0;
      } catch (e) {
        if (abort.signal.aborted) break;
        if ((e as Error).name === 'HandlerStoppedError') throw e;
        attempt += 1;
        const delay = backoffDelay(attempt, { initialMs: 100, maxMs: 5_000 });
        logger.error({ err: e, attempt, delayMs: delay }, 'subscription failed; resuming from the checkpoint after a backoff');
        await sleep(delay, abort.signal);
      }
    }
  })().then(
    () => resolveDone(),
    (e: unknown) => {
      logger.error({ err: e }, 'in-process engine stopped on an error');
      for (const h of handlers) h.revoked();
      rejectDone(e);
    },
  );

  return {
    async stop() {
      abort.abort();
      await subscription?.close().catch(() => undefined);
      await loop;
      for (const h of handlers) h.revoked();
    },
    done,
    checkpoint: () => position,
  };
}
