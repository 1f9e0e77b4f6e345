import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { verifyLog } from '@tradecore/event-store';
import { createPostgresVault, type MasterKey, type Vault } from '@tradecore/vault';
import { buildCommandApp } from '../src/app.ts';
import { UserDirectory } from '../src/directories.ts';
import { startHarness, type Harness } from './harness.ts';

const master: MasterKey = { id: 'k1', key: randomBytes(32) };

describe('personal data in the log is sealed per user and can be forgotten', () => {
  let h: Harness;
  let pool: pg.Pool;
  let vault: Vault;
  beforeAll(async () => {
    h = await startHarness({
      vault: (db) => {
        pool = new pg.Pool({ connectionString: db.url, max: 2 });
        vault = createPostgresVault({ pool, current: master });
        return vault;
      },
    });
  });
  afterAll(async () => {
    await pool?.end();
    await h?.close();
  });

  it('stores no username or password hash in clear, yet logs the user in through the app', async () => {
    const carol = await h.register('carol_the_trader');
    const rows = await pool.query<{ data: Record<string, string> }>("select data from event_store.events where type = 'UserRegistered'");
    const text = JSON.stringify(rows.rows);
    expect(text).not.toContain('carol_the_trader');
    expect(text).not.toContain('scrypt$');
    const carolRow = rows.rows.find((r) => Number(r.data.userId) === carol.userId);
    expect(carolRow?.data.username).toMatch(/^pii:v1:user-\d+:/);
    const login = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'carol_the_trader', password: 'password-123' } });
    expect(login.statusCode).toBe(200);
    expect(await vault.open('username', carolRow!.data.username!)).toBe('carol_the_trader');
  });

  it('gives concurrent registrations distinct ids, each able to log in (the id and the expected revision come from one state)', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `racer_${i}`);
    const answers = await Promise.all(
      names.map((username) => h.app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { username, password: 'password-123' } })),
    );
    for (const a of answers) expect(a.statusCode, a.body).toBe(201);
    const ids = answers.map((a) => (JSON.parse(a.body) as { userId: number }).userId);
    expect(new Set(ids).size).toBe(names.length);
    for (const username of names) {
      const login = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password: 'password-123' } });
      expect(login.statusCode, username).toBe(200);
    }
    const registered = await pool.query<{ n: string; ids: string }>(
      "select count(*)::text as n, count(distinct data->>'userId')::text as ids from event_store.events where type = 'UserRegistered'",
    );
    expect(registered.rows[0]?.ids).toBe(registered.rows[0]?.n);
  });

  it('gives registrations in two processes at once distinct ids (conflicts are retried, never a shared id)', async () => {
    // a second command API on the same log and vault, with its own user directory, as another process has
    const other = await buildCommandApp(
      { ...h.deps, users: new UserDirectory(h.store, vault), ids: { ...h.deps.ids, uuid: () => randomUUID() } },
      { rateLimitPerSecond: 10_000 },
    );
    try {
      const names = Array.from({ length: 12 }, (_, i) => `twin_${i}`);
      const answers = await Promise.all(
        names.map((username, i) => (i % 2 === 0 ? h.app : other).inject({ method: 'POST', url: '/api/v1/auth/register', payload: { username, password: 'password-123' } })),
      );
      for (const a of answers) expect(a.statusCode, a.body).toBe(201);
      const ids = answers.map((a) => (JSON.parse(a.body) as { userId: number }).userId);
      expect(new Set(ids).size).toBe(names.length);
      for (const [i, username] of names.entries()) {
        const login = await (i % 2 === 0 ? other : h.app).inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password: 'password-123' } });
        expect(login.statusCode, username).toBe(200);
        expect((JSON.parse(login.body) as { user: { userId: number } }).user.userId).toBe(ids[i]);
      }
    } finally {
      await other.close();
    }
  });

  it('takes a new user\'s id and the expected revision from one state: a catch-up while the vault seals cannot hand an id out twice', async () => {
    let meanwhile: (() => Promise<void>) | undefined;
    // the vault of a second process, slow enough that something happens while it seals
    const slowVault = new Proxy(vault, {
      get(target, prop) {
        if (prop === 'seal') {
          return async (...a: Parameters<Vault['seal']>) => {
            const m = meanwhile;
            meanwhile = undefined;
            if (m) await m();
            return target.seal(...a);
          };
        }
        const v = Reflect.get(target, prop) as unknown;
        return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(target) : v;
      },
    });
    const users = new UserDirectory(h.store, slowVault);
    const other = await buildCommandApp({ ...h.deps, users, vault: slowVault, ids: { ...h.deps.ids, uuid: () => randomUUID() } }, { rateLimitPerSecond: 10_000 });
    try {
      let interloper = 0;
      meanwhile = async () => {
        // this process registers someone (taking the id the other is about to use) ...
        interloper = (await h.register('interloper')).userId;
        // ... and the other process's directory catches up, as any login there makes it do
        await users.catchUp();
      };
      const victim = await other.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { username: 'victim', password: 'password-123' } });
      expect(victim.statusCode, victim.body).toBe(201);
      const victimId = (JSON.parse(victim.body) as { userId: number }).userId;
      expect(interloper).toBeGreaterThan(0);
      expect(victimId).not.toBe(interloper);
      for (const [username, id] of [['victim', victimId], ['interloper', interloper]] as const) {
        const login = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password: 'password-123' } });
        expect(login.statusCode, username).toBe(200);
        expect((JSON.parse(login.body) as { user: { userId: number } }).user.userId).toBe(id);
      }
    } finally {
      await other.close();
    }
  });

  it('binds each sealed value to its user and field', async () => {
    const rows = await pool.query<{ data: Record<string, string> }>("select data from event_store.events where type = 'UserRegistered' order by position");
    const sealed = rows.rows.at(-1)!.data.username!;
    await expect(vault.open('passwordHash', sealed)).rejects.toThrow();
  });

  it('forgets a shredded user: unreadable in SQL and in the app, while the hash chains still verify', async () => {
    const dave = await h.register('dave_forgettable');
    await vault.shred(`user-${dave.userId}`);
    // A fresh directory (as after a restart) can no longer open dave's data.
    const directory = new UserDirectory(h.store, createPostgresVault({ pool, current: master }));
    await directory.catchUp();
    expect(directory.findByName('dave_forgettable')).toBeUndefined();
    expect(directory.findById(dave.userId)?.username).toBe('');
    const report = await verifyLog(pool);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.eventsChecked).toBeGreaterThan(0);
  });

  it('rotates the master key: rewrap moves every data key, the old key can then be dropped', async () => {
    const next: MasterKey = { id: 'k2', key: randomBytes(32) };
    const rotating = createPostgresVault({ pool, current: next, previous: [master] });
    expect(await rotating.rewrap()).toBeGreaterThan(0);
    const onlyNew = createPostgresVault({ pool, current: next });
    const rows = await pool.query<{ data: Record<string, string> }>("select data from event_store.events where type = 'UserRegistered' and data->>'username' like 'pii:%' order by position limit 1");
    expect(await onlyNew.open('username', rows.rows[0]!.data.username!)).not.toBeNull();
    const keys = await pool.query<{ master_key_id: string }>('select distinct master_key_id from vault.subject_keys');
    expect(keys.rows.map((r) => r.master_key_id)).toEqual(['k2']);
  });
});
