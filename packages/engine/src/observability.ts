/** Logging (pino) and metrics (prom-client) for the engine, both injectable. */
import { pino, type Logger } from 'pino';
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
}

const byRegistry = new WeakMap<Registry, EngineMetrics>();

/** Engine metrics registered once per registry (several engines in one process share them). */
export function engineMetrics(registry: Registry = new Registry()): EngineMetrics {
  const known = byRegistry.get(registry);
  if (known) return known;
  const m: EngineMetrics = {
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
  };
  byRegistry.set(registry, m);
  return m;
}
