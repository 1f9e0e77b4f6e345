import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { streams } from '@tradecore/core-domain';
import { verifyLog } from '@tradecore/event-store';
import { createPostgresVault, type MasterKey, type Vault } from '@tradecore/vault';
import { UserDirectory } from '../src/directories.ts';
import { startHarness, type Harness } from './harness.ts';

const master: MasterKey = { id: 'k1', key: randomBytes(32) };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('POST /api/v1/admin/users/:userId/forget (right to erasure, with an audit event)', () => {
  let h: Harness;
  let pool: pg.Pool;
  let vault: Vault;
  let adminId: number;

  beforeAll(async () => {
    h = await startHarness({
      vault: (db) => {
        pool = new pg.Pool({ connectionString: db.url, max: 4 });
        vault = createPostgresVault({ pool, current: master });
        return vault;
      },
    });
    await h.deps.users.catchUp();
    adminId = h.deps.users.findByName('admin')!.userId;
  });
  afterAll(async () => {
    await pool?.end();
    await h?.close();
  });

  const forget = (userId: number | string, body: unknown, token = h.adminToken, headers: Record<string, string> = {}) =>
    h.app.inject({ method: 'POST', url: `/api/v1/admin/users/${userId}/forget`, headers: { ...bearer(token), ...headers }, payload: body as object });
  const sealedUsername = async (userId: number) => {
    const r = await pool.query<{ username: string }>("select data->>'username' as username from event_store.events where type = 'UserRegistered' and (data->>'userId')::int = $1", [userId]);
    return r.rows[0]!.username;
  };
  const erasureEvents = () => h.store.readStream(streams.erasures, {});

  it('shreds the data key, records who, what, when and why once, and the user can no longer log in', async () => {
    const erin = await h.register('erin_to_forget');
    const sealed = await sealedUsername(erin.userId);
    expect(await vault.open('username', sealed)).toBe('erin_to_forget');
    h.clock.set(new Date('2026-11-26T12:14:15.000Z'));

    const res = await forget(erin.userId, { reason: 'GDPR art. 17 request #42' }, h.adminToken, { 'x-request-id': 'erasure-req-1' });
    expect(res.statusCode, res.body).toBe(202);
    const body = res.json<{ userId: number; forgottenBy: number; forgottenAt: string; reason: string; position: number }>();
    expect(body).toEqual({ userId: erin.userId, forgottenBy: adminId, forgottenAt: '2026-11-26T12:14:15.000Z', reason: 'GDPR art. 17 request #42', position: expect.any(Number) as number });
    expect(res.headers['x-event-position']).toBe(String(body.position));

    // The audit event: what (type, data), who (forgottenBy and metadata.userId), when, correlation.
    const recorded = await erasureEvents();
    expect(recorded).toHaveLength(1);
    const e = recorded[0]!;
    expect(e.type).toBe('UserForgotten');
    expect(e.data).toEqual({ userId: erin.userId, reason: 'GDPR art. 17 request #42', forgottenBy: adminId });
    expect(e.metadata).toMatchObject({ userId: adminId, correlationId: 'erasure-req-1', occurredAt: '2026-11-26T12:14:15.000Z', schemaVersion: 1 });
    expect(Number(e.globalPosition)).toBe(body.position);

    // Personal data unreadable: the sealed bytes are unchanged, the key is gone.
    expect(await sealedUsername(erin.userId)).toBe(sealed);
    expect(await vault.open('username', sealed)).toBeNull();
    const keys = await pool.query('select 1 from vault.subject_keys where subject = $1', [`user-${erin.userId}`]);
    expect(keys.rowCount).toBe(0);

    // Login fails exactly like an unknown user.
    const login = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'erin_to_forget', password: 'password-123' } });
    const unknown = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'nobody_at_all', password: 'password-123' } });
    expect(login.statusCode).toBe(401);
    expect(login.json()).toEqual(unknown.json());

    // The hash chains still verify.
    const report = await verifyLog(pool);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('is idempotent: a repeat (even by another admin, with another reason) answers the same and appends nothing', async () => {
    const fay = await h.register('fay_twice');
    const first = await forget(fay.userId, { reason: 'first request' });
    expect(first.statusCode).toBe(202);
    const head = await h.head();
    h.clock.advance(60_000);
    const second = await forget(fay.userId, { reason: 'asked again' });
    expect(second.statusCode).toBe(202);
    expect(second.json()).toEqual(first.json());
    expect(second.headers['x-event-position']).toBe(first.headers['x-event-position']);
    expect(await h.head()).toBe(head);
    expect((await erasureEvents()).filter((e) => (e.data as { userId: number }).userId === fay.userId)).toHaveLength(1);
  });

  it('records one erasure when two requests race', async () => {
    const gil = await h.register('gil_raced');
    const [a, b] = await Promise.all([forget(gil.userId, { reason: 'race a' }), forget(gil.userId, { reason: 'race b' })]);
    expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
    expect(a.json()).toEqual(b.json());
    expect((await erasureEvents()).filter((e) => (e.data as { userId: number }).userId === gil.userId)).toHaveLength(1);
  });

  it('changes nothing on bad input, for an unknown user, for a trader or without a token', async () => {
    const hal = await h.register('hal_stays');
    const sealed = await sealedUsername(hal.userId);
    const head = await h.head();
    const cases: { res: Awaited<ReturnType<typeof forget>>; status: number }[] = [
      { res: await forget(hal.userId, {}), status: 400 },
      { res: await forget(hal.userId, { reason: '' }), status: 400 },
      { res: await forget(hal.userId, { reason: '   ' }), status: 400 },
      { res: await forget(hal.userId, { reason: 'x'.repeat(501) }), status: 400 },
      { res: await forget(hal.userId, { reason: 'ok', extra: true }), status: 400 },
      { res: await forget(hal.userId, { reason: 42 }), status: 400 },
      { res: await forget('not-a-number', { reason: 'ok' }), status: 400 },
      { res: await forget(0, { reason: 'ok' }), status: 400 },
      { res: await forget(999_999, { reason: 'no such user' }), status: 404 },
      { res: await forget(hal.userId, { reason: 'a trader may not' }, hal.token), status: 403 },
      { res: await h.app.inject({ method: 'POST', url: `/api/v1/admin/users/${hal.userId}/forget`, payload: { reason: 'no token' } }), status: 401 },
    ];
    for (const { res, status } of cases) {
      expect(res.statusCode, res.body).toBe(status);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json<{ status: number }>().status).toBe(status);
    }
    expect(await h.head()).toBe(head);
    expect(await vault.open('username', sealed)).toBe('hal_stays');
    const login = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'hal_stays', password: 'password-123' } });
    expect(login.statusCode).toBe(200);
  });

  it('after a restart the forgotten user stays forgotten, and an erasure recorded without its shred is finished by the next catch-up', async () => {
    const ivy = await h.register('ivy_half_done');
    const sealed = await sealedUsername(ivy.userId);
    // As if a writer stopped right after appending the audit event, before shredding the key.
    const erasures = await erasureEvents();
    await h.store.appendToStream(
      streams.erasures,
      [{ eventId: '5c0f6a52-7f3e-4d7a-9a51-2f1e8f4c0001', type: 'UserForgotten', data: { userId: ivy.userId, reason: 'crash test', forgottenBy: adminId }, metadata: { correlationId: 'crash', causationId: null, userId: adminId, occurredAt: h.clock.now().toISOString(), schemaVersion: 1 } }],
      { expectedRevision: erasures.at(-1)?.streamRevision ?? 'no_stream' },
    );
    expect(await vault.open('username', sealed)).toBe('ivy_half_done');
    const fresh = new UserDirectory(h.store, createPostgresVault({ pool, current: master }));
    await fresh.catchUp();
    expect(fresh.findByName('ivy_half_done')).toBeUndefined();
    expect(fresh.findByName('erin_to_forget')).toBeUndefined();
    expect(fresh.findById(ivy.userId)?.username).toBe('');
    expect(fresh.erasures.find(ivy.userId)).toMatchObject({ userId: ivy.userId, reason: 'crash test', forgottenBy: adminId });
    expect(await createPostgresVault({ pool, current: master }).open('username', sealed)).toBeNull();
    // The running instance learns it at its next catch-up too (its vault cache drops the key).
    await h.deps.users.catchUp();
    expect(h.deps.users.findByName('ivy_half_done')).toBeUndefined();
    expect(await vault.open('username', sealed)).toBeNull();
  });

  it('is documented in the OpenAPI output', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    const doc = res.json<{ paths: Record<string, Record<string, { tags?: string[]; requestBody?: unknown; responses?: Record<string, unknown> }>> }>();
    const op = doc.paths['/api/v1/admin/users/{userId}/forget']?.post;
    expect(op?.tags).toEqual(['admin']);
    expect(JSON.stringify(op?.requestBody)).toContain('reason');
    expect(Object.keys(op?.responses ?? {})).toContain('202');
  });
});

describe('the audit trail of admin actions: every admin action is an event saying who, what and when', () => {
  let h: Harness;
  let pool: pg.Pool;
  beforeAll(async () => {
    h = await startHarness({
      vault: (db) => {
        pool = new pg.Pool({ connectionString: db.url, max: 2 });
        return createPostgresVault({ pool, current: master });
      },
    });
  });
  afterAll(async () => {
    await pool?.end();
    await h?.close();
  });

  it('market listing, deposit, kill switch and erasure each record the admin, the action and the time', async () => {
    await h.deps.users.catchUp();
    const adminId = h.deps.users.findByName('admin')!.userId;
    const jo = await h.register('jo_audited');
    const at = new Date('2026-11-26T12:30:00.000Z');
    h.clock.set(at);
    const post = (url: string, payload: object, id: string) => h.app.inject({ method: 'POST', url, headers: { ...bearer(h.adminToken), 'x-request-id': id }, payload });
    const listed = await post('/api/v1/admin/markets', { symbol: 'AUD-USD', baseAsset: 'AUD', quoteAsset: 'USD', tickSize: '0.01', lotSize: '1' }, 'audit-list');
    const deposit = await post('/api/v1/admin/deposits', { userId: jo.userId, asset: 'USD', amount: '100' }, 'audit-deposit');
    const engaged = await post('/api/v1/admin/kill-switch', { scope: 'user', userId: jo.userId, engaged: true, reason: 'audit' }, 'audit-kill');
    const forgotten = await post(`/api/v1/admin/users/${jo.userId}/forget`, { reason: 'audit' }, 'audit-forget');
    for (const r of [listed, deposit, engaged, forgotten]) expect(r.statusCode, r.body).toBeLessThan(300);

    const r = await pool.query<{ type: string; stream: string; data: Record<string, unknown>; metadata: Record<string, unknown> }>(
      "select type, stream, data, metadata from event_store.events where metadata->>'correlationId' like 'audit-%' order by position",
    );
    expect(r.rows.map((x) => [x.metadata.correlationId, x.type, x.stream])).toEqual([
      ['audit-list', 'MarketListed', 'markets'],
      ['audit-deposit', 'FundsDeposited', `account-${jo.userId}`],
      ['audit-kill', 'KillSwitchEngaged', 'control'],
      ['audit-forget', 'UserForgotten', 'erasures'],
    ]);
    const who: Record<string, string> = { MarketListed: 'listedBy', FundsDeposited: 'depositedBy', KillSwitchEngaged: 'changedBy', UserForgotten: 'forgottenBy' };
    for (const row of r.rows) {
      expect(row.data[who[row.type]!], row.type).toBe(adminId);
      expect(row.metadata.userId, row.type).toBe(adminId);
      expect(row.metadata.occurredAt, row.type).toBe(at.toISOString());
    }
  });
});
