/**
 * The projections service (scaled deployments): folds the log into the read models, from Kafka's
 * `tradecore.events` topic when KAFKA_BROKERS is set, else from the event-store subscription.
 * Environment: DATABASE_URL (required), EVENT_STORE_SCHEMA (event_store), READMODEL_SCHEMA
 * (readmodel), KAFKA_BROKERS, TOPIC_PREFIX, KAFKA_FETCH_MIN_BYTES and KAFKA_FETCH_MAX_WAIT_MS (the
 * consumer's fetch; default the engine's DEFAULT_FETCH), PORT (9464: /health, /ready, /metrics), LOG_LEVEL.
 * SIGTERM finishes the batch in flight (its transaction commits with its checkpoint, or not at all).
 */
import Fastify from 'fastify';
import pg from 'pg';
import { z } from 'zod';
import { createPostgresEventStore } from '@tradecore/event-store';
import { fetchTuningOf, kafkaClient } from '@tradecore/engine';
import { createMetricsRegistry, envFields, installProblemHandling, loadServiceEnv, registerOps, stopOnSignals } from '@tradecore/http-kit';
import { createProjector } from './projector.ts';
import { runProjection } from './runner.ts';
import { startKafkaProjections } from './kafka-source.ts';

const Env = z.object({
  DATABASE_URL: z.string().url(),
  EVENT_STORE_SCHEMA: envFields.schemaName('event_store'),
  READMODEL_SCHEMA: envFields.schemaName('readmodel'),
  KAFKA_BROKERS: z.string().optional(),
  TOPIC_PREFIX: z.string().default(''),
  KAFKA_FETCH_MIN_BYTES: envFields.kafkaFetchMinBytes,
  KAFKA_FETCH_MAX_WAIT_MS: envFields.kafkaFetchMaxWaitMs,
  PORT: envFields.port(9464),
  HOST: envFields.host,
  LOG_LEVEL: envFields.logLevel,
});

async function main(): Promise<void> {
  const env = loadServiceEnv('projections', Env);
  const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 8 });
  const registry = createMetricsRegistry('projections');
  const projector = createProjector({ pool, schema: env.READMODEL_SCHEMA, registry, liveCache: true });
  await projector.migrate();
  const store = createPostgresEventStore({ pool, schema: env.EVENT_STORE_SCHEMA });
  let stop: () => Promise<void>;
  if (env.KAFKA_BROKERS) {
    const consumer = await startKafkaProjections({ kafka: kafkaClient(env.KAFKA_BROKERS.split(','), 'tradecore-projections'), topicPrefix: env.TOPIC_PREFIX, projector, fetch: fetchTuningOf(env) });
    stop = () => consumer.stop();
  } else {
    const run = runProjection(store, projector, { registry });
    await run.started;
    stop = () => run.close();
  }
  const app = Fastify({ logger: { level: env.LOG_LEVEL } });
  installProblemHandling(app);
  registerOps(app, { registry, readiness: [{ name: 'postgres', check: async () => void (await pool.query('select 1')) }] });
  await app.listen({ port: env.PORT, host: env.HOST });
  stopOnSignals('projections', async () => {
    await stop(); // the batch in flight commits with its checkpoint, or not at all
    await app.close();
    await store.close();
    await pool.end();
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`projections failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
