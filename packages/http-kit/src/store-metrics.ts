/**
 * Append latency and volume for any event store (the port, so PostgreSQL and EventStoreDB alike):
 * a transparent wrapper, so the adapters stay free of metrics and every writer (command-api, risk,
 * execution) reports the same series.
 */
import { IdempotencyConflictError, WrongExpectedRevisionError, type EventStore } from '@tradecore/event-store';
import { Counter, Histogram, type Registry } from 'prom-client';

/** prom-client's registry, for packages that take one without depending on prom-client. */
export type MetricsRegistry = Registry;

export interface EventStoreMetrics {
  appendSeconds: Histogram<'outcome'>;
  appendedEvents: Counter<'type'>;
  rejections: Counter<'type' | 'reason'>;
}

/** Decisions that refuse an order or a request; their `reason` is the rejection's label. */
const REJECTIONS = new Set(['OrderRejected', 'OrderRejectedByEngine', 'OrderAmendRejected', 'OrderAmendRejectedByEngine', 'OrderCancelRejected']);

/**
 * A set of metrics created once per registry: prom-client refuses a second metric of one name in a
 * registry, and several components of one process (two engines, a store wrapper per writer) ask
 * for the same set.
 */
export function perRegistry<M>(create: (registry: Registry) => M): (registry: Registry) => M {
  const known = new WeakMap<Registry, M>();
  return (registry) => {
    let m = known.get(registry);
    if (m === undefined) {
      m = create(registry);
      known.set(registry, m);
    }
    return m;
  };
}

export const eventStoreMetrics = perRegistry(
  (registry): EventStoreMetrics => ({
    appendSeconds: new Histogram({
      name: 'tradecore_event_store_append_seconds',
      help: 'Time of one appendToStream call (durable commit included), by outcome: ok, conflict (expected revision or idempotency), error',
      labelNames: ['outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    appendedEvents: new Counter({
      name: 'tradecore_events_appended_total',
      help: 'Events in successful appends, by event type (an idempotent re-append counts again)',
      labelNames: ['type'],
      registers: [registry],
    }),
    rejections: new Counter({
      name: 'tradecore_rejections_total',
      help: 'Rejections appended by the risk and execution handlers, by event type and reason',
      labelNames: ['type', 'reason'],
      registers: [registry],
    }),
  }),
);

function reasonOf(data: unknown): string {
  const reason = typeof data === 'object' && data !== null ? (data as { reason?: unknown }).reason : undefined;
  return typeof reason === 'string' ? reason : 'unknown';
}

/** The same store, with appendToStream timed; every other member is the store's own. */
export function instrumentEventStore<S extends EventStore>(store: S, registry: Registry): S {
  const metrics = eventStoreMetrics(registry);
  const appendToStream: EventStore['appendToStream'] = async (stream, events, options) => {
    const end = metrics.appendSeconds.startTimer();
    try {
      const result = await store.appendToStream(stream, events, options);
      end({ outcome: 'ok' });
      for (const e of events) {
        metrics.appendedEvents.inc({ type: e.type });
        if (REJECTIONS.has(e.type)) metrics.rejections.inc({ type: e.type, reason: reasonOf(e.data) });
      }
      return result;
    } catch (err) {
      end({ outcome: err instanceof WrongExpectedRevisionError || err instanceof IdempotencyConflictError ? 'conflict' : 'error' });
      throw err;
    }
  };
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'appendToStream') return appendToStream;
      const value: unknown = Reflect.get(target, prop, receiver);
      // Methods run against the real store, whatever `this` the caller used.
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
