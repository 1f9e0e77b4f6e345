/**
 * Operations endpoints every service answers: /health (process up), /ready (dependencies
 * reachable), /metrics (Prometheus text).
 */
import type { FastifyInstance } from 'fastify';
import { Registry, collectDefaultMetrics, Histogram, Counter } from 'prom-client';
import { problemDocument, sendProblem } from './problem.ts';

export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

export function registerOps(app: FastifyInstance, options: { registry: Registry; readiness: ReadinessCheck[] }): void {
  const requests = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5],
    registers: [options.registry],
  });
  const errors = new Counter({
    name: 'http_problems_total',
    help: 'Problem documents answered, by status',
    labelNames: ['status'],
    registers: [options.registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown';
    requests.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    if (reply.statusCode >= 400) errors.inc({ status: String(reply.statusCode) });
  });
  app.get('/health', { logLevel: 'warn' }, async () => ({ status: 'ok' }));
  app.get('/ready', { logLevel: 'warn' }, async (_request, reply) => {
    const failures: string[] = [];
    await Promise.all(
      options.readiness.map(async (r) => {
        try {
          await r.check();
        } catch {
          failures.push(r.name);
        }
      }),
    );
    if (failures.length > 0) return sendProblem(reply, problemDocument(503, 'not-ready', `not ready: ${failures.join(', ')}`));
    return { status: 'ready' };
  });
  app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
    void reply.type(options.registry.contentType);
    return options.registry.metrics();
  });
}
