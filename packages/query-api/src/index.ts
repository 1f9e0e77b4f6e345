export { buildQueryApp, type QueryAppOptions } from './app.ts';
export { registerQueryRoutes, queryRoutes, encodeCursor, MAX_LIMIT, DEFAULT_LIMIT, type QueryApiDeps } from './routes.ts';
export { createPositionWaiter, type PositionWaiter, type PositionWaiterOptions } from './waiter.ts';
export { memoryCache, redisCache, type Cache, type CacheEntry } from './cache.ts';
