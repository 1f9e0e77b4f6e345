/**
 * Process entry point: `tsx packages/engine/src/main.ts <role>...` where a role is `relay`,
 * `risk` or `execution` (several may run in one process). Configuration from the environment:
 *   DATABASE_URL          PostgreSQL of the event store (and engine_checkpoints)
 *   KAFKA_BROKERS         comma-separated, default 127.0.0.1:9092
 *   TOPIC_PREFIX          deployment topic prefix (default '')
 *   EVENT_STORE_SCHEMA    default event_store
 *   LOG_LEVEL             pino level
 *   SESSION_TIMEOUT_MS    Kafka consumer session timeout (default 10000; the broker's minimum is 6000)
 *   KAFKA_FETCH_MIN_BYTES, KAFKA_FETCH_MAX_WAIT_MS  the handlers' fetch (default DEFAULT_FETCH: 65536, 10)
 * SIGTERM/SIGINT stop gracefully (finish the in-flight batch, commit, disconnect).
 */
import { createPostgresEventStore } from '@tradecore/event-store';
import { createMetricsRegistry, envFields, instrumentEventStore, loadServiceEnv, stopOnSignals } from '@tradecore/http-kit';
import pg from 'pg';
import { z } from 'zod';
import { createPostgresCheckpointStore } from './checkpoints.ts';
import { systemClock } from './ids.ts';
import { createPostgresSnapshotStore } from './snapshots.ts';
import { fetchTuningOf, kafkaClient, startKafkaEngine } from './kafka-engine.ts';
import { defaultLogger, engineMetrics } from './observability.ts';
import { startEngineOps } from './ops.ts';
import { topicName } from './routing.ts';
import { startRelay } from './relay.ts';
import type { HandlerName } from './handler-deps.ts';

const Env = z.object({
  DATABASE_URL: z.string().url(),
  KAFKA_BROKERS: z
    .string()
    .default('127.0.0.1:9092')
    .transform((v) => v.split(',').map((b) => b.trim()).filter(Boolean))
    .refine((b) => b.length > 0 && b.every((x) => /^[^\s:]+:\d{1,5}$/.test(x)), 'must be host:port[,host:port...]'),
  TOPIC_PREFIX: z.string().regex(/^[A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-" only').default(''),
  EVENT_STORE_SCHEMA: envFields.schemaName('event_store'),
  // The broker refuses sessions shorter than its group.min.session.timeout.ms (6 s by default).
  SESSION_TIMEOUT_MS: z.coerce.number().int().min(6_000).max(300_000).optional(),
  KAFKA_FETCH_MIN_BYTES: envFields.kafkaFetchMinBytes,
  KAFKA_FETCH_MAX_WAIT_MS: envFields.kafkaFetchMaxWaitMs,
  /** /health, /ready and /metrics (0: any free port, announced to a parent process over IPC). */
  PORT: envFields.port(9465),
  HOST: envFields.host,
  LOG_LEVEL: envFields.logLevel,
});

async function main(): Promise<void> {
  const roles = process.argv.slice(2);
  if (roles.length === 0 || roles.some((r) => !['relay', 'risk', 'execution'].includes(r))) {
    process.stderr.write(`usage: main.ts relay|risk|execution ... (got ${JSON.stringify(roles)})\n`);
    process.exit(2);
  }
  const env = loadServiceEnv(`engine ${roles.join('+')}`, Env);
  const logger = defaultLogger();
  const brokers = env.KAFKA_BROKERS;
  const topicPrefix = env.TOPIC_PREFIX;
  const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 16 });
  pool.on('error', (e) => logger.warn({ err: e }, 'idle PostgreSQL client error'));
  const registry = createMetricsRegistry(`engine-${roles.join('-')}`);
  const store = instrumentEventStore(createPostgresEventStore({ pool, schema: env.EVENT_STORE_SCHEMA }), registry);
  await store.ready();
  const kafka = kafkaClient(brokers, `tradecore-${roles.join('-')}`);
  const checkpoints = await createPostgresCheckpointStore(pool);
  const metrics = engineMetrics(registry);
  const handlers = roles.filter((r): r is HandlerName => r === 'risk' || r === 'execution');
  const admin = kafka.admin();
  if (handlers.length > 0) await admin.connect();
  let started = false;
  // Listening before the (possibly long) rebuild of owned books, so liveness answers meanwhile.
  const ops = await startEngineOps({
    port: env.PORT,
    host: env.HOST,
    registry,
    logger,
    readiness: [
      { name: 'postgres', check: async () => void (await pool.query('select 1')) },
      {
        name: 'engine',
        check: () => (started ? Promise.resolve() : Promise.reject(new Error('starting or stopping'))),
      },
    ],
    ...(roles.includes('relay') ? { relayLag: { store, checkpoints, name: 'relay', now: () => systemClock.now() } } : {}),
    ...(handlers.length > 0
      ? { consumerLag: { admin, groups: handlers.map((h) => ({ groupId: `${topicPrefix}tradecore-${h}`, topic: topicName(topicPrefix, h === 'risk' ? 'account-inbox' : 'market-inbox') })) } }
      : {}),
  });
  const stops: Array<() => Promise<void>> = [];
  const dones: Promise<void>[] = [];
  if (roles.includes('relay')) {
    const relay = await startRelay({ store, kafka, topicPrefix, checkpoints, logger, metrics });
    stops.push(() => relay.stop());
    dones.push(relay.done);
  }
  if (handlers.length > 0) {
    const snapshots = handlers.includes('execution') ? await createPostgresSnapshotStore(pool) : undefined;
    const sessionTimeoutMs = env.SESSION_TIMEOUT_MS;
    const engine = await startKafkaEngine({ store, kafka, topicPrefix, handlers, clock: systemClock, logger, metrics, snapshots, sessionTimeoutMs, fetch: fetchTuningOf(env) });
    stops.push(() => engine.stop());
    dones.push(engine.done);
  }
  started = true;
  logger.info({ roles, brokers, topicPrefix, opsPort: ops.port }, 'started');
  process.send?.({ ready: true, opsPort: ops.port });
  stopOnSignals(
    `engine ${roles.join('+')}`,
    async () => {
      started = false;
      await Promise.all(stops.map((s) => s())); // in-flight batches finish and commit, or stay for redelivery
      await ops.close();
      if (handlers.length > 0) await admin.disconnect();
      await store.close();
      await pool.end();
    },
    { log: (message) => logger.info(message) },
  );
  try {
    await Promise.all(dones);
  } catch (e) {
    logger.fatal({ err: e }, 'stopped on an error');
    process.exit(1);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
