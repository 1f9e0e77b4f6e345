import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '@tradecore/testkit';
import { tradectl } from './testing/fixture.ts';

const COMMANDS = ['events', 'order', 'account', 'recheck', 'replay', 'diff', 'verify', 'export'];

describe('tradectl usage', () => {
  it('--help lists every command and the exit codes', async () => {
    const r = await tradectl(['--help']);
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.out).toMatch(new RegExp(`\\n  ${c} `));
    for (const code of ['0 ', '1 ', '2 ', '64', '65', '66', '69']) expect(r.out).toContain(`\n  ${code}`);
  });

  it.each(COMMANDS)('%s --help has a description, options and examples', async (c) => {
    const r = await tradectl([c, '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`Usage: tradectl ${c}`);
    expect(r.out).toContain('--url <url>');
    expect(r.out).toMatch(/Examples:\n {2}\$ tradectl /);
    expect(r.out).toContain('Exit codes:');
    expect(r.err).toBe('');
  });

  it('exits 64 for no command, an unknown command or option, and a malformed value', async () => {
    expect((await tradectl([])).code).toBe(64);
    const u = await tradectl(['frobnicate']);
    expect(u.code).toBe(64);
    expect(u.err).toContain("unknown command 'frobnicate'");
    const o = await tradectl(['events', '--colour']);
    expect(o.code).toBe(64);
    expect(o.err).toContain("unknown option '--colour'");
    const v = await tradectl(['events', '--user', 'seven'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres' });
    expect(v.code).toBe(64);
    expect(v.err).toContain('--user: "seven" is not an id');
    const a = await tradectl(['verify', '--anchor', 'seven']);
    expect(a.code).toBe(64);
  });
});

describe('tradectl connection errors', () => {
  it('asks for a URL when none is given (64)', async () => {
    const r = await tradectl(['events']);
    expect(r.code).toBe(64);
    expect(r.err).toContain('no event store URL: pass --url, or set TRADECORE_EVENTSTORE_URL or DATABASE_URL');
  });

  it('refuses malformed URLs and unknown schemes (64)', async () => {
    const a = await tradectl(['events', '--url', 'not a url']);
    expect(a.code).toBe(64);
    expect(a.err).toContain('not a URL');
    const b = await tradectl(['verify', '--url', 'mysql://root:secret@db/x']);
    expect(b.code).toBe(64);
    expect(b.err).toContain('unsupported URL scheme "mysql:"');
    expect(b.err).not.toContain('secret');
  });

  it('says why a PostgreSQL URL cannot be used (69), masking passwords', async () => {
    const refused = await tradectl(['events', '--url', 'postgres://postgres:hunter2@127.0.0.1:1/x']);
    expect(refused.code).toBe(69);
    expect(refused.err).toContain('connection refused');
    expect(refused.err).toContain('postgres://postgres:***@127.0.0.1:1/x');
    expect(refused.err).not.toContain('hunter2');
    const missing = await tradectl(['verify'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/no_such_database_tctl' });
    expect(missing.code).toBe(69);
    expect(missing.err).toContain('the database does not exist');
    const db = await createTestDatabase('tctl_empty');
    try {
      const empty = await tradectl(['events'], { TRADECORE_EVENTSTORE_URL: db.url, DATABASE_URL: 'postgres://ignored@nowhere/x' });
      expect(empty.code).toBe(69);
      expect(empty.err).toContain('holds no Tradecore event store in schema "event_store"');
      // read-only: tradectl never creates the event store's tables
      const again = await tradectl(['verify', '--url', db.url]);
      expect(again.code).toBe(69);
    } finally {
      await db.drop();
    }
  });

  it('says an EventStoreDB URL is unreachable (69)', async () => {
    const r = await tradectl(['events', '--url', 'esdb://127.0.0.1:1?tls=false']);
    expect(r.code).toBe(69);
    expect(r.err).toContain('cannot connect to esdb://127.0.0.1:1?tls=false');
  });
});
