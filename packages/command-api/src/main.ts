/**
 * command-api as its own service (scaled deployments). Configuration from the environment:
 *   DATABASE_URL (required), EVENT_STORE_SCHEMA, JWT_SECRET (required, ≥ 32 bytes), PORT (8081),
 *   HOST, REDIS_URL, CORS_ORIGINS, RATE_LIMIT_PER_SECOND, ADMIN_USERNAME / ADMIN_PASSWORD,
 *   READMODEL_SCHEMA (for the early 409 on final orders), TLS_CERT_FILE / TLS_KEY_FILE, LOG_LEVEL.
 * A bad value stops the process with a message naming it; SIGTERM drains in-flight requests.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { z } from 'zod';
import { createPostgresEventStore } from '@tradecore/event-store';
import { createMetricsRegistry, createTokenService, envFields, instrumentEventStore, loadServiceEnv, randomIds, stopOnSignals, systemClock } from '@tradecore/http-kit';
import { buildCommandApp, ensureAdmin } from './app.ts';
import { MarketDirectory, UserDirectory } from './directories.ts';
import { createScryptHasher } from './passwords.ts';

const Env = z.object({
  DATABASE_URL: z.string().url(),
  EVENT_STORE_SCHEMA: envFields.schemaName('event_store'),
  READMODEL_SCHEMA: envFields.schemaName('readmodel'),
  JWT_SECRET: envFields.jwtSecret,
  PORT: envFields.port(8081),
  HOST: envFields.host,
  REDIS_URL: z.string().url().optional(),
  CORS_ORIGINS: z.string().default(''),
  RATE_LIMIT_PER_SECOND: z.coerce.number().int().positive().default(100),
  ADMIN_USERNAME: z.string().optional(),
  ADMIN_PASSWORD: z.string().min(8).optional(),
  TLS_CERT_FILE: z.string().optional(),
  TLS_KEY_FILE: z.string().optional(),
  LOG_LEVEL: envFields.logLevel,
});

async function main(): Promise<void> {
  const env = loadServiceEnv('command-api', Env);
  const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 20 });
  const registry = createMetricsRegistry('command-api');
  const store = instrumentEventStore(createPostgresEventStore({ pool, schema: env.EVENT_STORE_SCHEMA }), registry);
  const clock = systemClock;
  const tokens = createTokenService({ secret: env.JWT_SECRET, clock });
  const deps = {
    store,
    tokens,
    clock,
    ids: randomIds,
    passwords: createScryptHasher(),
    users: new UserDirectory(store),
    markets: new MarketDirectory(store),
    orderStatus: async (orderId: string) => {
      const r = await pool.query<{ status: string }>(`select status from "${env.READMODEL_SCHEMA}".orders where order_id = $1`, [orderId]).catch(() => ({ rows: [] as { status: string }[] }));
      return r.rows[0]?.status ?? null;
    },
  };
  if (env.ADMIN_USERNAME && env.ADMIN_PASSWORD) await ensureAdmin(deps, env.ADMIN_USERNAME, env.ADMIN_PASSWORD);
  const app = await buildCommandApp(deps, {
    logger: { level: env.LOG_LEVEL },
    corsOrigins: env.CORS_ORIGINS.split(',').filter(Boolean),
    rateLimitPerSecond: env.RATE_LIMIT_PER_SECOND,
    ...(env.REDIS_URL ? { redisUrl: env.REDIS_URL } : {}),
    ...(env.TLS_CERT_FILE && env.TLS_KEY_FILE ? { https: { cert: readFileSync(env.TLS_CERT_FILE), key: readFileSync(env.TLS_KEY_FILE) } } : {}),
    readiness: [{ name: 'postgres', check: async () => void (await pool.query('select 1')) }],
    registry,
  });
  await app.listen({ port: env.PORT, host: env.HOST });
  stopOnSignals('command-api', async () => {
    await app.close(); // in-flight requests finish first
    await store.close();
    await pool.end();
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`command-api failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
