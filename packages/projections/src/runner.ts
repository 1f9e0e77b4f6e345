/**
 * Single-node mode: feeds the projector from the event store's catch-up subscription, starting at
 * the projector's checkpoint. (The Kafka consumer in the engine package calls `projector.apply`
 * the same way.) A failing apply (database unavailable) is retried with backoff, so the
 * subscription never skips a batch; lag is exposed as `projection_lag_events{schema}`.
 */
import type { EventStore, RecordedEvent, Subscription } from '@tradecore/event-store';
import { Gauge, type Registry } from 'prom-client';
import { positionGauge, type Projector } from './projector.ts';

export interface RunProjectionOptions {
  registry?: Registry;
  /** Events per subscription batch (default 500). */
  batchSize?: number;
  /** How often the head position is sampled for the lag gauge (default 1000 ms). */
  headPollMs?: number;
  /** Backoff for a failing apply: first delay and cap (default 100 ms, 5 s). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Told about every failed attempt (the batch is retried). */
  onError?: (error: unknown, attempt: number) => void;
}

export interface ProjectionRun {
  /** Resolves once the subscription started (the checkpoint was read). */
  readonly started: Promise<void>;
  /** Stops the subscription and the lag sampler. */
  close(): Promise<void>;
  /** Resolves when stopped; rejects when the subscription itself failed. */
  readonly done: Promise<void>;
  /** Last position applied by this run (or the checkpoint it started from). */
  position(): bigint;
}

export function lagGauge(registry: Registry): Gauge<'schema'> {
  const existing = registry.getSingleMetric('projection_lag_events');
  if (existing) return existing as Gauge<'schema'>;
  return new Gauge({ name: 'projection_lag_events', help: 'Events in the log not yet applied to the read models', labelNames: ['schema'], registers: [registry] });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function runProjection(store: EventStore, projector: Projector, options: RunProjectionOptions = {}): ProjectionRun {
  const schema = projector.schema;
  const lag = options.registry ? lagGauge(options.registry) : undefined;
  const pos = options.registry ? positionGauge(options.registry) : undefined;
  let closed = false;
  let current = 0n;
  let head = 0n;
  let subscription: Subscription | undefined;
  let timer: NodeJS.Timeout | undefined;

  const report = () => {
    pos?.set({ schema }, Number(current));
    lag?.set({ schema }, Number(head > current ? head - current : 0n));
  };
  const sampleHead = async () => {
    try {
      head = await store.headPosition();
      report();
    } catch (err) {
      options.onError?.(err, 0);
    }
  };

  const handler = async (batch: readonly RecordedEvent[]) => {
    let delay = options.retryInitialMs ?? 100;
    for (let attempt = 1; ; attempt += 1) {
      if (closed) return;
      try {
        const result = await projector.apply(batch);
        current = result.position;
        const last = batch[batch.length - 1];
        if (last && last.globalPosition > head) head = last.globalPosition;
        report();
        return;
      } catch (err) {
        options.onError?.(err, attempt);
        await sleep(delay);
        delay = Math.min(delay * 2, options.retryMaxMs ?? 5_000);
      }
    }
  };

  let resolveDone!: () => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });

  const started = (async () => {
    current = await projector.position();
    if (closed) return;
    subscription = store.subscribeToAll(handler, { fromPosition: current, batchSize: options.batchSize ?? 500 });
    subscription.done.then(resolveDone, rejectDone);
    await sampleHead();
    timer = setInterval(() => void sampleHead(), options.headPollMs ?? 1_000);
    timer.unref();
  })();
  started.catch(rejectDone);

  return {
    started,
    position: () => current,
    done,
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      await started.catch(() => undefined);
      if (subscription) await subscription.close();
      else resolveDone();
    },
  };
}
