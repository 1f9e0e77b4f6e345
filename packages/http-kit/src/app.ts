/**
 * The HTTP foundation every Tradecore API is built on: request ids, body limit, zod validation,
 * security headers, CORS allow-list, rate limits, OpenAPI, problem documents. Route plugins
 * (command-api, query-api) are registered on top; single-node mode registers both on one app.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import helmet from '@fastify/helmet';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Redis } from 'ioredis';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { randomUUID } from 'node:crypto';
import { installProblemHandling, type NotFoundFallback } from './problem.ts';
import type { TokenService } from './auth.ts';

export interface HttpAppOptions {
  /** pino logger options, or false in tests. */
  logger?: FastifyServerOptions['logger'];
  /** Origins allowed by CORS; empty means same-origin only. */
  corsOrigins?: string[];
  /** Requests per second per authenticated user (or per IP when anonymous). */
  rateLimitPerSecond?: number;
  /** Redis connection string for a shared rate-limit store across instances. */
  redisUrl?: string;
  /** Used only to key the rate limit by user id when a valid token is present. */
  tokens?: TokenService;
  /** TLS material; when given the app listens on HTTPS. */
  https?: { key: Buffer; cert: Buffer };
  title?: string;
  /** Answers unknown routes before the problem-document 404 (the UI shell in single-node mode). */
  notFoundFallback?: NotFoundFallback;
}

export const BODY_LIMIT_BYTES = 16 * 1024;

const HELMET_OPTIONS = {
  // The UI is served from the same origin; Swagger UI needs inline styles.
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
    },
  },
};

let securityHeadersOnce: Promise<[string, string][]> | undefined;

/**
 * The security headers @fastify/helmet sets with HELMET_OPTIONS. They do not depend on the request,
 * yet the plugin builds helmet's middleware anew (parsing the CSP directives) for every request:
 * 7.5 % of the command-api's CPU in bench:api. So @fastify/helmet itself answers one request on a
 * probe instance at start-up, and every response gets the headers it added (the same names, values
 * and order; helmet also removes X-Powered-By, which fastify never sets).
 */
function securityHeaders(): Promise<[string, string][]> {
  securityHeadersOnce ??= (async () => {
    const plain = Fastify({ logger: false });
    const probe = Fastify({ logger: false });
    try {
      await probe.register(helmet, HELMET_OPTIONS);
      for (const a of [plain, probe]) a.get('/', () => 'probe');
      const [without, withHelmet] = await Promise.all([plain.inject('/'), probe.inject('/')]);
      const added: [string, string][] = [];
      for (const [name, value] of Object.entries(withHelmet.headers)) {
        if (name in without.headers || value === undefined) continue;
        added.push([name, Array.isArray(value) ? value.join(', ') : String(value)]);
      }
      if (!added.some(([name]) => name === 'content-security-policy')) throw new Error('helmet set no Content-Security-Policy');
      return added;
    } finally {
      await Promise.all([plain.close(), probe.close()]);
    }
  })();
  return securityHeadersOnce;
}
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export async function createHttpApp(options: HttpAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: BODY_LIMIT_BYTES,
    requestIdHeader: false,
    genReqId: (req) => {
      const header = req.headers['x-request-id'];
      return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
    },
    ...(options.https ? { https: options.https } : {}),
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installProblemHandling(app, options.notFoundFallback);
  app.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });

  const security = await securityHeaders();
  app.addHook('onRequest', (_request, reply, done) => {
    for (const [name, value] of security) reply.raw.setHeader(name, value);
    done();
  });
  await app.register(cors, {
    origin: options.corsOrigins && options.corsOrigins.length > 0 ? options.corsOrigins : false,
    credentials: false,
    exposedHeaders: ['X-Event-Position', 'X-Projection-Position', 'X-Request-Id', 'Retry-After'],
  });
  const redis = options.redisUrl ? new Redis(options.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 2 }) : undefined;
  if (redis) app.addHook('onClose', async () => void (await redis.quit()));
  await app.register(rateLimit, {
    global: true,
    max: options.rateLimitPerSecond ?? 100,
    timeWindow: 1000,
    ...(redis ? { redis, nameSpace: 'tradecore-rl:' } : {}),
    keyGenerator: (request) => {
      const auth = request.headers.authorization;
      if (options.tokens && auth?.startsWith('Bearer ')) {
        try {
          return `user:${options.tokens.verify(auth.slice(7)).userId}`;
        } catch {
          // An invalid token is keyed by address like any anonymous caller.
        }
      }
      return `ip:${request.ip}`;
    },
    allowList: (request) => request.url === '/health' || request.url === '/ready' || request.url === '/metrics',
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: options.title ?? 'Tradecore API', version: '1.0.0', description: 'Tradecore HTTP contract v1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/api/v1/docs', staticCSP: true });
  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
