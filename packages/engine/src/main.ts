/**
 * Process entry point: `tsx packages/engine/src/main.ts <role>...` where a role is `relay`,
 * `risk` or `execution` (several may run in one process). Configuration from the environment:
 *   DATABASE_URL          PostgreSQL of the event store (and engine_checkpoints)
 *   KAFKA_BROKERS         comma-separated, default 127.0.0.1:9092
 *   TOPIC_PREFIX          deployment topic prefix (default '')
 *   EVENT_STORE_SCHEMA    default event_store
 *   LOG_LEVEL             pino level
 *   SESSION_TIMEOUT_MS    Kafka consumer session timeout (default 10000; the broker's minimum is 6000)
 * SIGTERM/SIGINT stop gracefully (finish the in-flight batch, commit, disconnect).
 */
import { createPostgresEventStore } from '@tradecore/event-store';
import pg from 'pg';
import { createPostgresCheckpointStore } from './checkpoints.ts';
import { systemClock } from './ids.ts';
import { createPostgresSnapshotStore } from './snapshots.ts';
import { kafkaClient, startKafkaEngine } from './kafka-engine.ts';
import { defaultLogger } from './observability.ts';
import { startRelay } from './relay.ts';
import type { HandlerName } from './handler-deps.ts';

async function main(): Promise<void> {
  const roles = process.argv.slice(2);
  const logger = defaultLogger();
  if (roles.length === 0 || roles.some((r) => !['relay', 'risk', 'execution'].includes(r))) {
    logger.error({ roles }, 'usage: main.ts relay|risk|execution ...');
    process.exit(2);
  }
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is required');
  const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((b) => b.trim()).filter(Boolean);
  const topicPrefix = process.env.TOPIC_PREFIX ?? '';
  const pool = new pg.Pool({ connectionString: url, max: 16 });
  pool.on('error', (e) => logger.warn({ err: e }, 'idle PostgreSQL client error'));
  const store = createPostgresEventStore({ pool, schema: process.env.EVENT_STORE_SCHEMA ?? 'event_store' });
  await store.ready();
  const kafka = kafkaClient(brokers, `tradecore-${roles.join('-')}`);
  const stops: Array<() => Promise<void>> = [];
  const dones: Promise<void>[] = [];
  if (roles.includes('relay')) {
    const relay = await startRelay({ store, kafka, topicPrefix, checkpoints: await createPostgresCheckpointStore(pool), logger });
    stops.push(() => relay.stop());
    dones.push(relay.done);
  }
  const handlers = roles.filter((r): r is HandlerName => r === 'risk' || r === 'execution');
  if (handlers.length > 0) {
    const snapshots = handlers.includes('execution') ? await createPostgresSnapshotStore(pool) : undefined;
    const sessionTimeoutMs = process.env.SESSION_TIMEOUT_MS ? Number(process.env.SESSION_TIMEOUT_MS) : undefined;
    const engine = await startKafkaEngine({ store, kafka, topicPrefix, handlers, clock: systemClock, logger, snapshots, sessionTimeoutMs });
    stops.push(() => engine.stop());
    dones.push(engine.done);
  }
  logger.info({ roles, brokers, topicPrefix }, 'started');
  process.send?.({ ready: true });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    await Promise.all(stops.map((s) => s()));
    await store.close();
    await pool.end();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
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
