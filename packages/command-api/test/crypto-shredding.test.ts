import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { verifyLog } from '@tradecore/event-store';
import { createPostgresVault, type MasterKey, type Vault } from '@tradecore/vault';
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
