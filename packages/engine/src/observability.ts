/** Logging (pino) and metrics (prom-client) for the engine, both injectable. */
import { pino, type Logger } from 'pino';
import { perRegistry } from '@tradecore/http-kit';
import { Counter, Histogram, Registry } from 'prom-client';

export type { Logger } from 'pino';

export function defaultLogger(): Logger {
  return pino({ name: 'tradecore-engine', level: process.env.LOG_LEVEL ?? 'info' });
}

export interface EngineMetrics {
  registry: Registry;
  deadLetters: Counter<'handler' | 'reason'>;
  inputs: Counter<'handler' | 'outcome'>;
  retries: Counter<'handler' | 'kind'>;
  relayed: Counter<'topic'>;
  relayBatchSeconds: Histogram;
  /** Age of a batch's oldest event (recordedAt to the broker's ack) when the relay has published it. */
  relayedAgeSeconds: Histogram;
  /** Age of an input (its recordedAt to the moment its handler starts on it): the hop's queueing. */
  inputAgeSeconds: Histogram<'handler'>;
  /** Time a handler takes for one batch of one partition (decide and append). */
  handlerBatchSeconds: Histogram<'handler'>;
}

/** Latency buckets from 1 ms to 10 s (the pipeline's hops are milliseconds; a backlog is seconds). */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

/** Engine metrics registered once per registry (several engines in one process share them). */
export function engineMetrics(registry: Registry = new Registry()): EngineMetrics {
  return engineMetricsOf(registry);
}

const engineMetricsOf = perRegistry(
  (registry): EngineMetrics => ({
    registry,
    deadLetters: new Counter({
      name: 'tradecore_engine_dead_letters_total',
      help: 'Poison inputs published to the dead-letter topic after bounded retries',
      labelNames: ['handler', 'reason'],
      registers: [registry],
    }),
    inputs: new Counter({
      name: 'tradecore_engine_inputs_total',
      help: 'Inbox inputs processed by a handler, by outcome (decided, skipped, ignored, dead_lettered)',
      labelNames: ['handler', 'outcome'],
      registers: [registry],
    }),
    retries: new Counter({
      name: 'tradecore_engine_retries_total',
      help: 'Retries by kind (conflict: expected revision; poison: decider/schema; store: unavailable)',
      labelNames: ['handler', 'kind'],
      registers: [registry],
    }),
    relayed: new Counter({
      name: 'tradecore_relay_messages_total',
      help: 'Messages the relay published and the broker acknowledged',
      labelNames: ['topic'],
      registers: [registry],
    }),
    relayBatchSeconds: new Histogram({
      name: 'tradecore_relay_batch_seconds',
      help: 'Time to publish one read batch and save the checkpoint',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    relayedAgeSeconds: new Histogram({
      name: 'tradecore_relay_event_age_seconds',
      help: 'Age of the oldest event of a published batch when the broker acknowledged it (recordedAt to ack)',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    inputAgeSeconds: new Histogram({
      name: 'tradecore_engine_input_age_seconds',
      help: 'Age of an inbox input when its handler starts on it (event recordedAt to handling)',
      labelNames: ['handler'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    handlerBatchSeconds: new Histogram({
      name: 'tradecore_engine_batch_seconds',
      help: "Time a handler takes for one batch of one partition's inputs (decide and append)",
      labelNames: ['handler'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
  }),
);
