/**
 * Single-node mode: the whole of Tradecore in one process. Embedded PostgreSQL (or DATABASE_URL)
 * holds the event store and the read models; in-process event-store subscriptions replace Kafka
 * (or KAFKA_BROKERS switches to the real relay and Kafka consumers); command-api and query-api
 * share one origin; the web UI is served at `/`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';
import pg from 'pg';
import {
  createHttpApp,
  createMetricsRegistry,
  instrumentEventStore,
  createTokenService,
  randomIds,
  registerOps,
  systemClock,
  type Clock,
  type IdGenerator,
} from '@tradecore/http-kit';
import { createEventStoreDbEventStore, createPostgresEventStore, type EventStore } from '@tradecore/event-store';
import {
  MarketDirectory,
  UserDirectory,
  commandRoutes,
  createScryptHasher,
  ensureAdmin,
  listMarket,
  type CommandDeps,
} from '@tradecore/command-api';
import { createPostgresCheckpointStore, engineMetrics, fetchTuningOf, kafkaClient, startInProcessEngine, startKafkaEngine, startRelay } from '@tradecore/engine';
import { createProjector, runProjection, startKafkaProjections } from '@tradecore/projections';
import { createPositionWaiter, memoryCache, redisCache, registerQueryRoutes } from '@tradecore/query-api';
import type { Config } from './config.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './embedded-postgres.ts';
import { createPostgresVault, masterKeysFromEnv, type MasterKey } from '@tradecore/vault';
import { mkdirSync, writeFileSync } from 'node:fs';
import { DEMO_MARKETS } from './demo.ts';

export interface RunningSystem {
  url: string;
  admin: { username: string; password: string | null; created: boolean };
  app: FastifyInstance;
  store: EventStore;
  databaseUrl: string;
  stop(): Promise<void>;
}

export interface SystemOptions {
  clock?: Clock;
  ids?: IdGenerator;
  log?: (line: string) => void;
}

const here = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_UI_DIST = resolve(here, '../../../ui/dist');

export async function startSystem(config: Config, options: SystemOptions = {}): Promise<RunningSystem> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const clock = options.clock ?? systemClock;
  const ids = options.ids ?? randomIds;
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        log(`shutdown step failed: ${(err as Error).message}`);
      }
    }
  };
  try {
    let databaseUrl = config.DATABASE_URL;
    if (!databaseUrl) {
      const embedded: EmbeddedDatabase = await startEmbeddedPostgres({ dataDir: join(config.DATA_DIR), port: config.EMBEDDED_PG_PORT });
      stops.push(() => embedded.stop());
      databaseUrl = embedded.url;
    }
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 20 });
    // An idle client's connection dropping (the database restarting, or stopping at shutdown) is
    // reported by the next query that needs one; it must not crash the process.
    pool.on('error', (err) => log(`PostgreSQL idle client error: ${err.message}`));
    stops.push(() => pool.end());
    // The log lives in EventStoreDB when EVENTSTORE_URL is given; read models, checkpoints and the
    // vault stay in PostgreSQL either way.
    const registry = createMetricsRegistry('tradecore');
    const store: EventStore = instrumentEventStore(
      config.EVENTSTORE_URL
        ? createEventStoreDbEventStore({ connectionString: config.EVENTSTORE_URL })
        : createPostgresEventStore({ pool, groupCommit: { maxInFlight: config.EVENT_STORE_APPENDS_IN_FLIGHT } }),
      registry,
    );
    stops.push(() => store.close());
    const metrics = engineMetrics(registry);

    // A random secret per start in single-node mode when none is configured; printed nowhere.
    const secret = config.JWT_SECRET ? Buffer.from(config.JWT_SECRET, 'utf8') : randomBytes(48);
    const tokens = createTokenService({ secret, clock, ttlSeconds: config.JWT_TTL_SECONDS });
    const keys = masterKeysFromEnv() ?? { current: localMasterKey(config.DATA_DIR), previous: [] };
    const vault = createPostgresVault({ pool, current: keys.current, previous: keys.previous });
    const deps: CommandDeps = {
      store,
      tokens,
      clock,
      ids,
      passwords: createScryptHasher(),
      users: new UserDirectory(store, vault),
      markets: new MarketDirectory(store),
      vault,
      // Early 409 for orders the read side already knows are final; the engine decides authoritatively.
      orderStatus: async (orderId) => {
        // A named (prepared) statement: parsed and planned once per connection, not per amend or cancel.
        const r = await pool.query<{ status: string }>({ name: 'tc_order_status', text: 'select status from readmodel.orders where order_id = $1', values: [orderId] });
        return r.rows[0]?.status ?? null;
      },
      loginRateLimitPerMinute: config.LOGIN_RATE_LIMIT_PER_MINUTE,
    };

    const adminPassword = config.ADMIN_PASSWORD ?? randomBytes(12).toString('base64url');
    const admin = await ensureAdmin(deps, config.ADMIN_USERNAME, adminPassword);
    if (config.SEED_DEMO_MARKETS) {
      await deps.markets.catchUp();
      for (const market of DEMO_MARKETS) {
        if (!deps.markets.findBySymbol(market.symbol)) {
          await listMarket(deps, market, admin.userId, { correlationId: `seed-${market.symbol}`, causationId: null, userId: admin.userId, occurredAt: clock.now().toISOString(), schemaVersion: 1 });
        }
      }
    }

    // The read side first, so the first reads after start find the read models migrated.
    // liveCache: order, position and market rows stay in memory between batches (dropped whenever
    // another projector or a rebuild's swap wrote the schema since this one's last commit).
    const projector = createProjector({ pool, schema: 'readmodel', registry, liveCache: true });
    await projector.migrate();
    if (config.KAFKA_BROKERS) {
      const brokers = config.KAFKA_BROKERS.split(',');
      const kafka = kafkaClient(brokers, 'tradecore-single-node');
      const relay = await startRelay({ store, kafka, checkpoints: await createPostgresCheckpointStore(pool), topicPrefix: config.KAFKA_TOPIC_PREFIX, metrics });
      stops.push(() => relay.stop());
      const fetch = fetchTuningOf(config);
      const engine = await startKafkaEngine({ store, kafka, topicPrefix: config.KAFKA_TOPIC_PREFIX, clock, metrics, fetch });
      stops.push(() => engine.stop());
      const projections = await startKafkaProjections({ kafka, topicPrefix: config.KAFKA_TOPIC_PREFIX, projector, log, fetch });
      stops.push(() => projections.stop());
    } else {
      const engine = await startInProcessEngine({ store, pool, clock, metrics });
      stops.push(() => engine.stop());
      const projections = runProjection(store, projector, { registry, onError: (err) => log(`projection retry: ${(err as Error).message}`) });
      await projections.started;
      stops.push(() => projections.close());
    }

    const https = config.TLS_CERT_FILE && config.TLS_KEY_FILE ? { cert: readFileSync(config.TLS_CERT_FILE), key: readFileSync(config.TLS_KEY_FILE) } : undefined;
    const uiDist = config.UI_DIST ?? DEFAULT_UI_DIST;
    const serveUi = existsSync(join(uiDist, 'index.html'));
    const app = await createHttpApp({
      // Client-side routes answer the app shell; unknown API paths stay problem documents.
      ...(serveUi
        ? {
            notFoundFallback: (request: FastifyRequest, reply: FastifyReply) => {
              const path = request.url.split('?')[0] ?? '/';
              if (request.method !== 'GET' || path.startsWith('/api/') || /\.[a-z0-9]+$/i.test(path)) return undefined;
              return reply.type('text/html').sendFile('index.html');
            },
          }
        : {}),
      logger: config.LOG_LEVEL === 'silent' ? false : { level: config.LOG_LEVEL },
      corsOrigins: config.CORS_ORIGINS,
      rateLimitPerSecond: config.RATE_LIMIT_PER_SECOND,
      ...(config.REDIS_URL ? { redisUrl: config.REDIS_URL } : {}),
      tokens,
      ...(https ? { https } : {}),
      title: 'Tradecore',
    });
    const positions = createPositionWaiter({ pool, schema: 'readmodel' });
    await positions.ready();
    stops.push(() => positions.close());
    // The first reads after start should already see the seeded markets: wait (bounded) for the
    // projection to pass what was in the log when we started.
    await positions.waitFor(await store.headPosition(), 10_000);
    const cache = config.REDIS_URL ? redisCache(config.REDIS_URL) : memoryCache();
    stops.push(() => cache.close());
    registerOps(app, {
      registry,
      readiness: [
        { name: 'postgres', check: async () => void (await pool.query('select 1')) },
        { name: 'projection-listener', check: async () => { if (!positions.connected()) throw new Error('not listening'); } },
        { name: `cache-${cache.kind}`, check: () => cache.ping() },
      ],
    });
    await app.register(commandRoutes, { ...deps, prefix: '/api/v1' });
    await registerQueryRoutes(app, { pool, schema: 'readmodel', tokens, clock, cache, positions });

    if (serveUi) {
      await app.register(fastifyStatic, { root: uiDist, prefix: '/', wildcard: false, index: ['index.html'] });
    } else {
      log(`web UI not built (${uiDist} has no index.html); run: pnpm --filter @tradecore/ui build`);
    }

    stops.push(() => app.close());
    const address = await app.listen({ port: config.PORT, host: config.HOST });
    return {
      url: address,
      admin: { username: config.ADMIN_USERNAME, password: admin.created && !config.ADMIN_PASSWORD ? adminPassword : null, created: admin.created },
      app,
      store,
      databaseUrl,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * Single-node mode without TRADECORE_MASTER_KEY: a master key kept in DATA_DIR/master.key (0600),
 * made on first start. Losing it forgets every user's personal data, as shredding would.
 */
function localMasterKey(dataDir: string): MasterKey {
  const file = join(resolve(dataDir), 'master.key');
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600 });
  }
  return { id: 'local-1', key: Buffer.from(readFileSync(file, 'utf8').trim(), 'base64') };
}
