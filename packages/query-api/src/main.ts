/**
 * query-api as its own service (scaled deployments): every GET of the contract over the read
 * models. Environment: DATABASE_URL (required), READMODEL_SCHEMA (readmodel), JWT_SECRET (required,
 * ≥ 32 bytes, the same as command-api's), PORT (8082), HOST, REDIS_URL, LOG_LEVEL.
 * SIGTERM stops accepting, lets in-flight requests finish, closes SSE streams.
 */
import pg from 'pg';
import { z } from 'zod';
import { createTokenService, systemClock } from '@tradecore/http-kit';
import { buildQueryApp } from './app.ts';
import { createPositionWaiter } from './waiter.ts';

const Env = z.object({
  DATABASE_URL: z.string().url(),
  READMODEL_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('readmodel'),
  JWT_SECRET: z.string().min(32, 'JWT_SECRET must be at least 32 bytes'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8082),
  HOST: z.string().default('0.0.0.0'),
  REDIS_URL: z.string().url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
});

async function main(): Promise<void> {
  const parsed = Env.safeParse(process.env);
  if (!parsed.success) {
    process.stderr.write(`invalid configuration:\n${parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}\n`);
    process.exit(78);
  }
  const env = parsed.data;
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
  const shutdown = async () => {
    await app.close();
    await positions.close();
    await pool.end();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
}

main().catch((err: unknown) => {
  process.stderr.write(`query-api failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
