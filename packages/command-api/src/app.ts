/**
 * command-api: the write side of the HTTP contract. `commandRoutes` is an encapsulated plugin
 * (mounted under /api/v1, beside query-api in single-node mode); `buildCommandApp` makes the
 * standalone service from injected ports.
 */
import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { createHttpApp, registerOps, createMetricsRegistry, type HttpAppOptions, type MetricsRegistry, type ReadinessCheck } from '@tradecore/http-kit';
import type { CommandDeps } from './context.ts';
import { authRoutes, registerUser } from './routes/auth.ts';
import { orderRoutes } from './routes/orders.ts';
import { adminRoutes } from './routes/admin.ts';
import { metadataFor } from './context.ts';

export const commandRoutes: FastifyPluginAsyncZod<CommandDeps> = async (app, options) => {
  // Registration options carry fastify's own `prefix`; the route plugins get only the ports.
  const { prefix: _prefix, ...deps } = options as CommandDeps & { prefix?: string };
  await app.register(authRoutes, deps);
  await app.register(orderRoutes, deps);
  await app.register(adminRoutes, deps);
};

export async function buildCommandApp(deps: CommandDeps, http: HttpAppOptions & { readiness?: ReadinessCheck[]; registry?: MetricsRegistry } = {}): Promise<FastifyInstance> {
  const { readiness = [], registry = createMetricsRegistry('command-api'), ...options } = http;
  const app = await createHttpApp({ ...options, tokens: deps.tokens, title: 'Tradecore command API' });
  registerOps(app, { registry, readiness });
  await app.register(commandRoutes, { ...deps, prefix: '/api/v1' });
  return app;
}

/** Creates the first admin from ADMIN_USERNAME / ADMIN_PASSWORD unless that user exists already. */
export async function ensureAdmin(deps: CommandDeps, username: string, password: string): Promise<{ created: boolean; userId: number }> {
  await deps.users.catchUp();
  const existing = deps.users.findByName(username);
  if (existing) return { created: false, userId: existing.userId };
  const fakeRequest = { id: `bootstrap-${deps.ids.uuid()}` } as Parameters<typeof metadataFor>[1];
  const { userId } = await registerUser(deps, { username, password, roles: ['trader', 'admin'] }, metadataFor(deps, fakeRequest, null));
  return { created: true, userId };
}
