/**
 * The server side of the read-side benchmark, in its own process so that autocannon does not
 * share its event loop: MODE=query serves query-api over DATABASE_URL (cache: REDIS_URL or
 * in-process), MODE=hello a bare fastify hello-world. Prints `LISTENING <port>`.
 */
import Fastify from 'fastify';
import pg from 'pg';
import { createTokenService, manualClock } from '@tradecore/http-kit';
import { buildQueryApp, createPositionWaiter } from '../src/index.ts';

const mode = process.env.MODE ?? 'query';
if (mode === 'hello') {
  const app = Fastify({ logger: false });
  app.get('/', async () => ({ hello: 'world' }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  console.log(`LISTENING ${typeof addr === 'object' && addr ? addr.port : 0}`);
} else {
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.POOL_SIZE ?? 8) });
  const positions = createPositionWaiter({ pool });
  await positions.ready();
  const clock = manualClock(new Date(process.env.NOW ?? new Date().toISOString()));
  const tokens = createTokenService({ secret: process.env.JWT_SECRET ?? 'bench-secret-bench-secret-bench-secret', clock, ttlSeconds: 86_400 });
  const app = await buildQueryApp({ pool, tokens, clock, positions, cache: process.env.CACHE ?? 'memory' });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  console.log(`LISTENING ${typeof addr === 'object' && addr ? addr.port : 0}`);
}
