/** The real executable: bin/tradectl.mjs spawned as a process (through tsx, as installed). */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seed, type Seeded } from '../src/testing/fixture.ts';

const BIN = fileURLToPath(new URL('../bin/tradectl.mjs', import.meta.url));

function spawnBin(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

let f: Seeded;
beforeAll(async () => {
  f = await seed('tctl_bin');
});
afterAll(async () => {
  await f.close();
});

describe('bin/tradectl.mjs', () => {
  it('verifies the seeded log (exit 0) and reports a tampered one (exit 2)', async () => {
    const ok = await spawnBin(['verify'], { DATABASE_URL: f.url });
    expect(ok.err).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('OK: the event log');
    const withProgress = await spawnBin(['verify', '--progress'], { DATABASE_URL: f.url });
    expect(withProgress.code).toBe(0);
    expect(withProgress.err).toMatch(/verify chains .*100\.0% .*events .*ev\/s in /);
    expect(withProgress.err).toMatch(/verify seals .*100\.0% /);
    expect(withProgress.out).toBe(ok.out.replace(/in [\d.]+s \([\d,]+ events\/s\)/, (m) => withProgress.out.match(/in [\d.]+s \([\d,]+ events\/s\)/)?.[0] ?? m));
    await f.pool.query(`update event_store.events set metadata = jsonb_set(metadata, '{userId}', '99') where stream = 'users' and revision = 1`);
    const bad = await spawnBin(['verify', '--url', f.url], {});
    expect(bad.code).toBe(2);
    expect(bad.out).toContain('First problem: MODIFIED event (stream users, revision 1');
  });

  it('streams JSON lines to a pipe, keeps progress on stderr with --progress, and exits 64 on usage errors', async () => {
    const ev = await spawnBin(['events', '--limit', '3'], { TRADECORE_EVENTSTORE_URL: f.url });
    expect(ev.code).toBe(0);
    const lines = ev.out.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect((JSON.parse(lines[0] ?? '{}') as { type: string }).type).toBe('UserRegistered');

    const rp = await spawnBin(['replay', '--schema', 'bin_replay', '--format', 'json', '--progress'], { DATABASE_URL: f.url });
    expect(rp.code).toBe(0);
    expect((JSON.parse(rp.out) as { events: number }).events).toBe(f.s.events);
    expect(rp.err).toMatch(/replay .*events .*ev\/s/);

    const usage = await spawnBin(['events', '--from', 'x'], { DATABASE_URL: f.url });
    expect(usage.code).toBe(64);
    expect(usage.err).toContain('--from');
  });
});
