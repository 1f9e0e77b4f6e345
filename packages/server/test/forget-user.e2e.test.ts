/**
 * Forgetting a user end to end in single-node mode: over HTTP, then the auditors' CLI on the same
 * database. The shredded user's personal data is unreadable everywhere while `tradectl verify`
 * still passes (the sealed bytes are unchanged; only the key is gone).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import { loadConfig } from '../src/config.ts';
import { startSystem, type RunningSystem } from '../src/system.ts';
import { http, type Http } from './client.ts';

const TRADECTL = resolve(import.meta.dirname, '../../tradectl/src/main.ts');
const ADMIN = { username: 'admin', password: 'admin-password-forget' };

function tradectl(args: string[], databaseUrl: string) {
  const run = spawnSync(process.execPath, ['--import', 'tsx', TRADECTL, ...args], { env: { ...process.env, DATABASE_URL: databaseUrl, NO_COLOR: '1' }, encoding: 'utf8', timeout: 120_000 });
  return { code: run.status, out: run.stdout, err: run.stderr };
}

describe('forgetting a user in single-node mode', { timeout: 240_000 }, () => {
  let db: TestDatabase;
  let dir: string;
  let system: RunningSystem;
  let pool: pg.Pool;
  let api: Http;
  beforeAll(async () => {
    db = await createTestDatabase('forget_e2e');
    dir = mkdtempSync(join(tmpdir(), 'tradecore-forget-'));
    system = await startSystem(
      loadConfig({ PORT: '0', DATABASE_URL: db.url, DATA_DIR: dir, ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password, LOG_LEVEL: 'silent', RATE_LIMIT_PER_SECOND: '10000' }),
      { log: () => undefined },
    );
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    api = http(system.url);
  });
  afterAll(async () => {
    await pool?.end();
    await system?.stop();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('makes the personal data unreadable, refuses the login like an unknown user, keeps the money, and the log still verifies', async () => {
    const login = (username: string, password: string) => api.call<{ token: string; user: { userId: number } }>('POST', '/api/v1/auth/login', { body: { username, password } });
    const admin = (await login(ADMIN.username, ADMIN.password)).body;
    const reg = await api.call<{ userId: number }>('POST', '/api/v1/auth/register', { body: { username: 'kim_forget_me', password: 'correct horse battery' } });
    expect(reg.status).toBe(201);
    const kim = reg.body.userId;
    const deposit = await api.call<{ position: number }>('POST', '/api/v1/admin/deposits', { token: admin.token, body: { userId: kim, asset: 'USD', amount: '250' } });
    expect(deposit.status).toBe(202);
    const sealedBefore = await pool.query<{ username: string; password_hash: string }>(
      "select data->>'username' as username, data->>'passwordHash' as password_hash from event_store.events where type = 'UserRegistered' and (data->>'userId')::int = $1",
      [kim],
    );
    expect(sealedBefore.rows[0]?.username).toMatch(/^pii:v1:user-\d+:/);

    const forget = await api.call<{ userId: number; forgottenBy: number; position: number }>('POST', `/api/v1/admin/users/${kim}/forget`, {
      token: admin.token,
      body: { reason: 'erasure request 2026-117' },
      headers: { 'x-request-id': 'forget-e2e-1' },
    });
    expect(forget.status).toBe(202);
    expect(forget.body).toMatchObject({ userId: kim, forgottenBy: admin.user.userId });
    const again = await api.call('POST', `/api/v1/admin/users/${kim}/forget`, { token: admin.token, body: { reason: 'again' } });
    expect(again.status).toBe(202);
    expect(again.body).toEqual(forget.body);

    // Login: the same answer as for a user that never existed.
    const refused = await login('kim_forget_me', 'correct horse battery');
    const unknown = await login('never_registered', 'correct horse battery');
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual(unknown.body);

    // The log is unchanged where the personal data sits; the key is gone.
    const sealedAfter = await pool.query("select data->>'username' as username, data->>'passwordHash' as password_hash from event_store.events where type = 'UserRegistered' and (data->>'userId')::int = $1", [kim]);
    expect(sealedAfter.rows).toEqual(sealedBefore.rows);
    expect((await pool.query('select 1 from vault.subject_keys where subject = $1', [`user-${kim}`])).rowCount).toBe(0);
    const audit = await pool.query<{ data: unknown; metadata: { userId: number; correlationId: string } }>("select data, metadata from event_store.events where stream = 'erasures'");
    expect(audit.rows).toEqual([{ data: { userId: kim, reason: 'erasure request 2026-117', forgottenBy: admin.user.userId }, metadata: expect.objectContaining({ userId: admin.user.userId, correlationId: 'forget-e2e-1' }) as unknown }]);

    // The read side shows the placeholder, never the cipher text; the money stays.
    const portfolio = await api.call<{ balances: { asset: string; available: string }[] }>('GET', '/api/v1/portfolio', { token: admin.token, headers: { 'x-min-position': String(forget.body.position) } });
    expect(portfolio.status).toBe(200);
    const users = await pool.query<{ username: string }>('select username from readmodel.users where user_id = $1', [kim]);
    expect(users.rows).toEqual([{ username: '[personal data]' }]);
    const balances = await pool.query<{ available: string }>("select available::text from readmodel.balances where user_id = $1 and asset = 'USD'", [kim]);
    expect(Number(balances.rows[0]?.available)).toBe(250);

    // The auditors' CLI: the chains verify, and the account's story names the erasure without cipher text.
    const verify = tradectl(['verify'], db.url);
    expect(verify.code, verify.err).toBe(0);
    const story = tradectl(['account', String(kim)], db.url);
    expect(story.code, story.err).toBe(0);
    expect(story.out).toContain(`user ${kim} registered as [personal data]`);
    expect(story.out).toContain(`user ${kim} forgotten by user ${admin.user.userId}`);
    expect(story.out).not.toContain('pii:v1:');
  });
});
