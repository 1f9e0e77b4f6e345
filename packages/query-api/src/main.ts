/**
 * query-api as its own service (scaled deployments): every GET of the contract over the read
 * models. Environment: DATABASE_URL (required), READMODEL_SCHEMA (readmodel), JWT_SECRET (required,
 * ≥ 32 bytes, the same as command-api's), PORT (8082), HOST, REDIS_URL, LOG_LEVEL.
 * SIGTERM stops accepting, lets in-flight requests finish, closes SSE streams.
 */
import pg from 'pg';
import { z } from 'zod';
import { createTokenService, envFields, loadServiceEnv, stopOnSignals, systemClock } from '@tradecore/http-kit';
import { buildQueryApp } from './app.ts';
import { createPositionWaiter } from './waiter.ts';

const Env = z.object({
  DATABASE_URL: z.string().url(),
  READMODEL_SCHEMA: envFields.schemaName('readmodel'),
  JWT_SECRET: envFields.jwtSecret,
  PORT: envFields.port(8082),
  HOST: envFields.host,
  REDIS_URL: z.string().url().optional(),
  LOG_LEVEL: envFields.logLevel,
});

async function main(): Promise<void> {
  const env = loadServiceEnv('query-api', Env);
  const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 16 });
  const positions = createPositionWaiter({ pool, schema: env.READMODEL_SCHEMA });
  await positions.ready();
  const app = await buildQueryApp({
    pool,
    schema: env.READMODEL_SCHEMA,
    tokens: createTokenService({ secret: env.JWT_SECRET, clock: systemClock }),
    clock: systemClock,
    positions,
    cache: env.REDIS_URL ?? 'memory',
    logger: { level: env.LOG_LEVEL },
  });
  await app.listen({ port: env.PORT, host: env.HOST });
  stopOnSignals('query-api', async () => {
    await app.close();
    await positions.close();
    await pool.end();
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`query-api failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
