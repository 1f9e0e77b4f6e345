/** Builds command-api over a real PostgreSQL event store in a database of its own. */
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import { createPostgresEventStore } from '@tradecore/event-store';
import { createTokenService, manualClock, sequentialIds } from '@tradecore/http-kit';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { buildCommandApp } from '../src/app.ts';
import { MarketDirectory, UserDirectory } from '../src/directories.ts';
import { createScryptHasher } from '../src/passwords.ts';
import { ensureAdmin } from '../src/app.ts';
import type { CommandDeps } from '../src/context.ts';
import type { EventStore } from '@tradecore/event-store';
import type { Vault } from '@tradecore/vault';

export const JWT_SECRET = 'test-secret-that-is-at-least-32-bytes-long!!';

export interface Harness {
  app: FastifyInstance;
  store: EventStore;
  deps: CommandDeps;
  clock: ReturnType<typeof manualClock>;
  db: TestDatabase;
  adminToken: string;
  close(): Promise<void>;
  register(username: string): Promise<{ userId: number; token: string }>;
  /** Count and highest position of every row in the events table, read directly in SQL (no visibility lag). */
  head(): Promise<string>;
  /** What the read side says about orders, for the early-409 checks. */
  statuses: Map<string, string>;
}

export async function startHarness(options: { rateLimitPerSecond?: number; vault?: (db: TestDatabase) => Vault } = {}): Promise<Harness> {
  const db = await createTestDatabase('cmdapi');
  const store = createPostgresEventStore({ connectionString: db.url });
  const vault = options.vault?.(db);
  const sql = new pg.Pool({ connectionString: db.url, max: 2 });
  const statuses = new Map<string, string>();
  const clock = manualClock(new Date('2026-11-26T12:00:00.000Z'));
  const deps: CommandDeps = {
    store,
    clock,
    ids: sequentialIds(),
    // Cheap parameters keep the suite fast; production uses OWASP's (see passwords.ts).
    passwords: createScryptHasher({ N: 2 ** 10, r: 8, p: 1 }),
    tokens: createTokenService({ secret: JWT_SECRET, clock, ttlSeconds: 3600 }),
    users: new UserDirectory(store, vault),
    ...(vault ? { vault } : {}),
    markets: new MarketDirectory(store),
    orderStatus: async (orderId) => statuses.get(orderId) ?? null,
  };
  const app = await buildCommandApp(deps, { rateLimitPerSecond: options.rateLimitPerSecond ?? 10_000 });
  await ensureAdmin(deps, 'admin', 'admin-password-1');
  const login = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'admin', password: 'admin-password-1' } });
  const adminToken = (login.json() as { token: string }).token;
  return {
    app,
    store,
    deps,
    clock,
    db,
    adminToken,
    async close() {
      await app.close();
      await sql.end();
      await store.close();
      await db.drop();
    },
    async register(username) {
      const r = await app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { username, password: 'password-123' } });
      if (r.statusCode !== 201) throw new Error(`register ${username}: ${r.statusCode} ${r.body}`);
      const l = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password: 'password-123' } });
      return { userId: (r.json() as { userId: number }).userId, token: (l.json() as { token: string }).token };
    },
    head: async () => {
      const r = await sql.query<{ n: string; max: string }>('select count(*)::text as n, coalesce(max(position), 0)::text as max from event_store.events');
      return `${r.rows[0]!.n}@${r.rows[0]!.max}`;
    },
    statuses,
  };
}
