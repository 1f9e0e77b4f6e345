/**
 * A standalone query-api: fastify with problem documents, ops endpoints (/health, /ready,
 * /metrics) and the query routes. The single-node server mounts `registerQueryRoutes` instead.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { createMetricsRegistry, installProblemHandling, registerOps } from '@tradecore/http-kit';
import type { Registry } from 'prom-client';
import { memoryCache, redisCache, type Cache } from './cache.ts';
import { registerQueryRoutes, type QueryApiDeps } from './routes.ts';

export interface QueryAppOptions extends QueryApiDeps {
  logger?: FastifyServerOptions['logger'];
  registry?: Registry;
}

export async function buildQueryApp(options: QueryAppOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? false });
  installProblemHandling(app);
  const registry = options.registry ?? createMetricsRegistry('query-api');
  // One cache for the app, so that readiness can ping the same one the routes use.
  const cache: Cache = typeof options.cache === 'object' ? options.cache : options.cache === 'memory' ? memoryCache() : options.cache ? redisCache(options.cache) : process.env.REDIS_URL ? redisCache(process.env.REDIS_URL) : memoryCache();
  if (typeof options.cache !== 'object') app.addHook('onClose', async () => cache.close());
  registerOps(app, {
    registry,
    readiness: [
      { name: 'postgres', check: async () => void (await options.pool.query('select 1')) },
      { name: 'projection-listener', check: async () => { if (!options.positions.connected()) throw new Error('not listening'); } },
      { name: `cache-${cache.kind}`, check: () => cache.ping() },
    ],
  });
  await registerQueryRoutes(app, { ...options, cache });
  return app;
}
