import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { canonicalEventJson, eventHash } from '@tradecore/event-store';
import { eventRows, seed, tradectl, type Seeded } from '../testing/fixture.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tradectl-verify-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface VerifyJson {
  ok: boolean;
  firstProblem: { kind: string; stream: string | null; revision: string | null; position: string | null; sealId: string | null; message: string } | null;
  problems: { kind: string; stream: string | null; revision: string | null; position: string | null; message: string }[];
  eventsChecked: number;
  sealsChecked: number;
  lastSeal: { sealId: string; hash: string } | null;
  digest: string | null;
}

describe('tradectl verify (online)', () => {
  let f: Seeded;
  let env: Record<string, string>;
  beforeEach(async () => {
    f = await seed('tctl_verify');
    env = { DATABASE_URL: f.url };
  });
  afterEach(async () => {
    await f.close();
  });

  const verify = async (...extra: string[]) => {
    const r = await tradectl(['verify', '--format', 'json', ...extra], env);
    return { ...r, json: JSON.parse(r.out) as VerifyJson };
  };

  it('passes on an untouched log, counting every event and seal, and prints an anchor', async () => {
    const r = await tradectl(['verify'], env);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^OK: the event log at postgres:\/\/postgres@127\.0\.0\.1:5432\/tctl_verify_[0-9a-f]+ \(schema event_store\) verifies\./);
    expect(r.out).toContain(`Checked ${f.s.events} events in`);
    const j = await verify();
    expect(j.code).toBe(0);
    expect(j.json.ok).toBe(true);
    expect(j.json.eventsChecked).toBe(f.s.events);
    expect(j.json.sealsChecked).toBeGreaterThanOrEqual(2);
    for (const parallelism of ['1', '3']) {
      const other = await verify('--parallelism', parallelism);
      expect(other.json.eventsChecked, parallelism).toBe(f.s.events);
      expect({ ...other.json, seconds: 0, eventsPerSecond: 0 }, parallelism).toEqual({ ...j.json, seconds: 0, eventsPerSecond: 0 });
    }
    const bad = await tradectl(['verify', '--parallelism', '9'], env);
    expect(bad.code).toBe(64);
    expect(bad.err).toContain('--parallelism: 1, 2 or 3');
    const anchor = `${j.json.lastSeal?.sealId}:${j.json.lastSeal?.hash}`;
    expect((await tradectl(['verify', '--anchor', anchor], env)).code).toBe(0);
    const wrong = await tradectl(['verify', '--anchor', `${j.json.lastSeal?.sealId}:${'0'.repeat(64)}`], env);
    expect(wrong.code).toBe(2);
    expect(wrong.out).toContain('differs from the anchored hash');
  });

  it('names a modified event (changed in SQL) and exits 2', async () => {
    const rows = await eventRows(f.pool);
    const dep = rows.find((r) => r.stream === `account-${f.s.dave}` && r.revision === '0');
    expect(dep?.type).toBe('FundsDeposited');
    await f.pool.query(`update event_store.events set data = jsonb_set(data, '{amount}', '"1000000"') where position = $1`, [dep?.position]);
    const r = await tradectl(['verify'], env);
    expect(r.code).toBe(2);
    expect(r.out).toContain(`First problem: MODIFIED event (stream account-${f.s.dave}, revision 0, position ${dep?.position}`);
    const j = await verify();
    expect(j.json.firstProblem).toMatchObject({ kind: 'modified', stream: `account-${f.s.dave}`, revision: '0', position: dep?.position });
  });

  it('names a deleted event with its stream, revision and sealed position', async () => {
    const rows = await eventRows(f.pool);
    const victim = rows.find((r) => BigInt(r.position) < f.s.sealedTo && r.type === 'TradeExecuted');
    expect(victim).toBeDefined();
    await f.pool.query('delete from event_store.events where position = $1', [victim?.position]);
    const j = await verify();
    expect(j.code).toBe(2);
    expect(j.json.firstProblem).toMatchObject({ kind: 'missing', stream: victim?.stream, revision: victim?.revision, position: victim?.position });
  });

  it('names reordered events when two rows swap positions', async () => {
    const rows = await eventRows(f.pool);
    const a = rows[20];
    const b = rows.slice(21, 30).find((r) => r.stream !== a?.stream && r.stream.startsWith('account-') !== a?.stream.startsWith('account-'));
    expect(a && b).toBeTruthy();
    await f.pool.query('update event_store.events set position = -1 where position = $1', [a?.position]);
    await f.pool.query('update event_store.events set position = $1 where position = $2', [a?.position, b?.position]);
    await f.pool.query('update event_store.events set position = $1 where position = -1', [b?.position]);
    const j = await verify();
    expect(j.code).toBe(2);
    expect(j.json.firstProblem).toMatchObject({ kind: 'reordered', position: a?.position, stream: b?.stream });
    const kinds = j.json.problems.filter((p) => p.kind === 'reordered').map((p) => `${p.stream}@${p.revision}`);
    expect(kinds).toEqual(expect.arrayContaining([`${a?.stream}@${a?.revision}`, `${b?.stream}@${b?.revision}`]));
    const text = await tradectl(['verify'], env);
    expect(text.out).toContain('First problem: REORDERED event');
  });

  it('names an event inserted behind the store with a forged but consistent hash chain', async () => {
    const last = (await f.pool.query<{ stream: string; revision: string; hash: Buffer; position: string }>(
      `select stream, revision::text as revision, hash, position::text as position from event_store.events where stream = $1 order by revision desc limit 1`,
      [`account-${f.s.dave}`],
    )).rows[0];
    if (!last) throw new Error('no account stream');
    const revision = BigInt(last.revision) + 1n;
    const data = { depositId: '11111111-1111-4111-8111-111111111111', userId: f.s.dave, asset: 'USD', amount: '5000000', depositedBy: f.s.dave };
    const metadata = { correlationId: 'forged', causationId: null, userId: f.s.dave, occurredAt: '2025-03-14T14:10:00.000Z', schemaVersion: 1 };
    const eventId = '22222222-2222-4222-8222-222222222222';
    const hash = eventHash(last.hash, canonicalEventJson({ stream: last.stream, streamRevision: revision, eventId, type: 'FundsDeposited', data, metadata }));
    const xid = (await f.pool.query<{ x: string }>('select pg_current_xact_id()::text as x')).rows[0]?.x ?? '0';
    const position = (BigInt(xid) * 1_000_000n).toString();
    await f.pool.query(
      `insert into event_store.events (position, transaction_id, stream, revision, event_id, type, data, metadata, hash)
       values ($1, $2::text::xid8, $3, $4, $5, 'FundsDeposited', $6, $7, $8)`,
      [position, xid, last.stream, revision.toString(), eventId, JSON.stringify(data), JSON.stringify(metadata), hash],
    );
    const j = await verify();
    expect(j.code).toBe(2);
    expect(j.json.problems.map((p) => p.kind)).toContain('inserted');
    expect(j.json.problems.find((p) => p.kind === 'inserted')).toMatchObject({ stream: last.stream, revision: revision.toString() });
  });
});

describe('tradectl export and verify --file (offline)', () => {
  let f: Seeded;
  let env: Record<string, string>;
  beforeAll(async () => {
    f = await seed('tctl_export');
    env = { DATABASE_URL: f.url };
  });
  afterAll(async () => {
    await f.close();
  });

  const lines = (text: string) => text.trimEnd().split('\n');

  it('exports the whole log with hashes and seals; the file verifies offline against the printed digest', async () => {
    const file = join(dir, 'all.jsonl');
    const e = await tradectl(['export', '-o', file], env);
    expect(e.code).toBe(0);
    expect(e.out).toBe('');
    const digest = /digest ([0-9a-f]{64})/.exec(e.err)?.[1];
    expect(digest).toBeDefined();
    const text = await readFile(file, 'utf8');
    const recs = lines(text).map((l) => JSON.parse(l) as { kind: string });
    expect(recs[0]?.kind).toBe('header');
    expect(recs[recs.length - 1]?.kind).toBe('end');
    expect(recs.filter((r) => r.kind === 'event')).toHaveLength(f.s.events);
    expect(recs.filter((r) => r.kind === 'seal').length).toBeGreaterThanOrEqual(2);

    const v = await tradectl(['verify', '--file', file, '--digest', digest ?? ''], {});
    expect(v.code).toBe(0);
    expect(v.out).toContain(`OK: export file ${file} verifies.`);
    expect(v.out).toContain(`Checked ${f.s.events} events`);
    const bad = await tradectl(['verify', '--file', file, '--digest', 'f'.repeat(64)], {});
    expect(bad.code).toBe(2);
  });

  it('exports to stdout, and a range from the middle of streams also verifies', async () => {
    const rows = await eventRows(f.pool);
    const from = rows[30]?.position ?? '';
    const to = rows[55]?.position ?? '';
    const e = await tradectl(['export', '--from', from, '--to', to], env);
    expect(e.code).toBe(0);
    const events = lines(e.out).map((l) => JSON.parse(l) as { kind: string; position?: string });
    expect(events.filter((x) => x.kind === 'event').map((x) => x.position)).toEqual(rows.slice(30, 56).map((r) => r.position));
    const file = join(dir, 'range.jsonl');
    await writeFile(file, e.out);
    expect((await tradectl(['verify', '--file', file], {})).code).toBe(0);
  });

  const tamper = async (name: string, edit: (ls: string[]) => string[]) => {
    const src = join(dir, 'all.jsonl');
    const file = join(dir, `${name}.jsonl`);
    await writeFile(file, `${edit(lines(await readFile(src, 'utf8'))).join('\n')}\n`);
    const r = await tradectl(['verify', '--file', file, '--format', 'json'], {});
    return { code: r.code, json: JSON.parse(r.out) as VerifyJson, text: (await tradectl(['verify', '--file', file], {})).out };
  };
  const eventIndexes = (ls: string[]) => ls.map((l, i) => ((JSON.parse(l) as { kind: string }).kind === 'event' ? i : -1)).filter((i) => i >= 0);

  it('catches a modified event in the file and names it', async () => {
    let target: { stream: string; revision: string; position: string } | undefined;
    const r = await tamper('modified', (ls) => {
      const i = eventIndexes(ls).find((k) => (JSON.parse(ls[k] ?? '{}') as { type: string }).type === 'FundsDeposited') ?? 0;
      const ev = JSON.parse(ls[i] ?? '{}') as { stream: string; revision: string; position: string; data: { amount: string } };
      target = ev;
      ev.data.amount = '99999999';
      ls[i] = JSON.stringify(ev);
      return ls;
    });
    expect(r.code).toBe(2);
    expect(r.json.firstProblem).toMatchObject({ kind: 'modified', stream: target?.stream, revision: target?.revision, position: target?.position });
    expect(r.text).toContain('First problem: MODIFIED event');
  });

  it('catches a deleted event line and names its stream and revision', async () => {
    let target: { stream: string; revision: string; position: string } | undefined;
    const r = await tamper('deleted', (ls) => {
      const idx = eventIndexes(ls);
      const i = idx[Math.floor(idx.length / 3)] ?? 0;
      target = JSON.parse(ls[i] ?? '{}') as { stream: string; revision: string; position: string };
      return ls.filter((_, k) => k !== i);
    });
    expect(r.code).toBe(2);
    expect(r.json.problems.some((p) => p.kind === 'missing' && p.position === target?.position)).toBe(true);
    expect(r.json.firstProblem?.kind).toBe('missing');
    expect(r.json.firstProblem?.position).toBe(target?.position);
  });

  it('catches two swapped event lines (reordered)', async () => {
    const r = await tamper('swapped', (ls) => {
      const idx = eventIndexes(ls);
      const a = idx[10] ?? 0;
      const b = idx[11] ?? 0;
      const x = ls[a] ?? '';
      ls[a] = ls[b] ?? '';
      ls[b] = x;
      return ls;
    });
    expect(r.code).toBe(2);
    expect(r.json.firstProblem?.kind).toBe('reordered');
  });

  it('catches a truncated file', async () => {
    const r = await tamper('truncated', (ls) => ls.slice(0, ls.length - 6));
    expect(r.code).toBe(2);
    expect(r.json.problems.map((p) => p.kind)).toContain('truncated');
  });

  it('refuses files that are not exports (65) and missing files (66)', async () => {
    const file = join(dir, 'not-export.jsonl');
    await writeFile(file, '{"hello":"world"}\n');
    const r = await tradectl(['verify', '--file', file], {});
    expect(r.code).toBe(65);
    expect(r.err).toContain('is not a tradectl export');
    const m = await tradectl(['verify', '--file', join(dir, 'nope.jsonl')], {});
    expect(m.code).toBe(66);
    expect(m.err).toContain('cannot read');
  });

  it('refuses a bad export range', async () => {
    const r = await tradectl(['export', '--from', '10', '--to', '5'], env);
    expect(r.code).toBe(64);
    expect(r.err).toContain('bad range');
    const h = await tradectl(['export', '--to', '99999999999999999'], env);
    expect(h.code).toBe(64);
    expect(h.err).toContain('beyond the head');
  });
});
