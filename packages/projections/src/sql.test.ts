import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import fc from 'fast-check';
import { arrayLiteral, bulkInsertSql, combineWrites, copyField, copyPayload, copyRows, type WriteStatement } from './sql.ts';

let db: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase('proj_sql');
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

describe('copyRows', () => {
  it('stores every value as sent: escapes, NULL, the text "\\N", unicode, numerics, booleans, times', async () => {
    await pool.query('create table copied (k int primary key, t text, n numeric, b boolean, ts timestamptz, big bigint)');
    const texts = ['plain', 'tab\there', 'line\nbreak', 'cr\rhere', 'back\\slash', '\\N', 'ünïcødé ✓ 🚀', '', ' spaced ', 'quote\'s "double"'];
    const rows: unknown[][] = texts.map((t, i) => [i, t, i % 2 === 0 ? '123456789012345678.123456789012' : '-0.5', i % 2 === 0, '2026-01-05T10:25:55.500Z', 9_007_199_254_740_993n + BigInt(i)]);
    rows.push([texts.length, null, null, null, null, null]);
    const client = await pool.connect();
    try {
      await copyRows(client, 'copied', ['k', 't', 'n', 'b', 'ts', 'big'], rows);
      // The connection is usable afterwards.
      expect((await client.query<{ one: number }>('select 1 as one')).rows[0]?.one).toBe(1);
    } finally {
      client.release();
    }
    const r = await pool.query<{ k: number; t: string | null; n: string | null; b: boolean | null; ts: string | null; big: string | null }>(
      `select k, t, n::text as n, b, to_char(ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as ts, big::text as big from copied order by k`,
    );
    expect(r.rows.map((x) => x.t)).toEqual([...texts, null]);
    expect(r.rows[0]).toEqual({ k: 0, t: 'plain', n: '123456789012345678.123456789012', b: true, ts: '2026-01-05T10:25:55.500Z', big: '9007199254740993' });
    expect(r.rows[1]?.n).toBe('-0.5');
    expect(r.rows[1]?.b).toBe(false);
    expect(r.rows[texts.length]).toEqual({ k: texts.length, t: null, n: null, b: null, ts: null, big: null });
  });

  it('fails, and leaves the connection usable, when a row breaks a constraint or the table is missing', async () => {
    await pool.query('create table keyed (k int primary key)');
    const client = await pool.connect();
    try {
      await copyRows(client, 'keyed', ['k'], [[1], [2]]);
      await expect(copyRows(client, 'keyed', ['k'], [[3], [1]])).rejects.toThrow(/duplicate key/);
      await expect(copyRows(client, 'no_such_table', ['k'], [[1]])).rejects.toThrow(/does not exist/);
      await expect(copyRows(client, 'keyed', ['k'], [['not a number']])).rejects.toThrow(/invalid input syntax/);
      expect((await client.query<{ n: string }>('select count(*)::text as n from keyed')).rows[0]?.n).toBe('2');
    } finally {
      client.release();
    }
  });

  it('refuses values it cannot encode instead of writing something else', () => {
    expect(() => copyField({})).toThrow(TypeError);
    expect(() => copyField(Number.NaN)).toThrow(TypeError);
    expect(copyField(undefined)).toBe('\\N');
  });
});

describe('copyPayload', () => {
  it('is the text format of copyField per value, tab-separated, one line per row', () => {
    const value = fc.oneof(
      fc.string(),
      fc.string({ unit: 'grapheme' }),
      fc.string({ unit: fc.constantFrom('a', '\\', '\t', '\n', '\r', 'é', '🚀', 'N') }),
      fc.constant(null),
      fc.boolean(),
      fc.integer(),
      fc.bigInt(),
    );
    fc.assert(
      fc.property(fc.array(fc.array(value, { minLength: 1, maxLength: 6 }), { maxLength: 30 }), (rows) => {
        const expected = rows.map((r) => `${r.map(copyField).join('\t')}\n`).join('');
        expect(copyPayload(rows).toString('utf8')).toBe(expected);
      }),
      { numRuns: 2_000 },
    );
  });

  it('grows past its first buffer', () => {
    const long = 'x'.repeat(100_000);
    const rows = [[long, 'é'.repeat(70_000)], ['a\tb', 1]];
    expect(copyPayload(rows).toString('utf8')).toBe(`${long}\t${'é'.repeat(70_000)}\na\\tb\t1\n`);
  });
});

describe('bulkInsertSql', () => {
  it("sends each column as an array literal PostgreSQL reads back value for value", async () => {
    await pool.query('create table arrayed (k int primary key, t text, n numeric, b boolean, big bigint)');
    const texts = ['plain', 'with "quotes"', 'back\\slash', 'comma,brace{}', 'NULL', 'null', '', ' spaced ', 'tab\there', 'ünïcødé ✓ 🚀', "quote's"];
    const rows: unknown[][] = texts.map((t, i) => [i, t, i % 2 === 0 ? '-123456789012345678.123456789012' : '0.5', i % 3 === 0, 9_007_199_254_740_993n + BigInt(i)]);
    rows.push([texts.length, null, null, null, null]);
    const st = bulkInsertSql('arrayed', [
      { name: 'k', type: 'int' },
      { name: 't', type: 'text' },
      { name: 'n', type: 'numeric' },
      { name: 'b', type: 'boolean' },
      { name: 'big', type: 'bigint' },
    ], rows, '');
    if (!st) throw new Error('no statement for rows');
    await pool.query(st.text, st.values);
    const r = await pool.query<{ k: number; t: string | null; n: string | null; b: boolean | null; big: string | null }>('select k, t, n::text as n, b, big::text as big from arrayed order by k');
    expect(r.rows.map((x) => x.t)).toEqual([...texts, null]);
    expect(r.rows[0]).toEqual({ k: 0, t: 'plain', n: '-123456789012345678.123456789012', b: true, big: '9007199254740993' });
    expect(r.rows[1]).toEqual({ k: 1, t: 'with "quotes"', n: '0.5', b: false, big: '9007199254740994' });
    expect(r.rows[texts.length]).toEqual({ k: texts.length, t: null, n: null, b: null, big: null });
  });

  it('refuses values it cannot encode', () => {
    expect(() => arrayLiteral([[{}]], 0)).toThrow(TypeError);
    expect(() => arrayLiteral([[Number.POSITIVE_INFINITY]], 0)).toThrow(TypeError);
    expect(arrayLiteral([[1, 'a'], [null, 'b"c'], [undefined, true]], 0)).toBe('{1,NULL,NULL}');
  });
});

describe('combineWrites', () => {
  const upsert = (table: string, reads?: string[]): WriteStatement => ({
    text: `insert into ${table} (k, n) select * from unnest($1::int[], $2::int[]) on conflict (k) do update set n = ${table}.n + excluded.n`,
    values: ['{1}', '{5}'],
    writes: table,
    reads,
  });

  it('puts consecutive writes to different tables in one statement, with placeholders renumbered', () => {
    const out = combineWrites([upsert('a'), upsert('b'), upsert('c')]);
    expect(out).toHaveLength(1);
    expect(out[0]?.text).toMatch(/^with w0 as \(insert into a .*\$1::int\[\], \$2::int\[\]\).*w1 as \(insert into b .*\$3::int\[\], \$4::int\[\]\).*w2 as \(insert into c .*\$5::int\[\], \$6::int\[\]\).* select 1 as written$/);
    expect(out[0]?.values).toEqual(['{1}', '{5}', '{1}', '{5}', '{1}', '{5}']);
  });

  it('starts a new statement at a second write of one table, or a read of a table the statement writes', () => {
    expect(combineWrites([upsert('a'), upsert('b'), upsert('a')]).map((st) => st.values.length)).toEqual([4, 2]);
    expect(combineWrites([upsert('a'), upsert('b'), upsert('c', ['a'])]).map((st) => st.values.length)).toEqual([4, 2]);
    // A read of a table written in an earlier statement does not split again.
    expect(combineWrites([upsert('a'), upsert('b', ['a']), upsert('c', ['a'])]).map((st) => st.values.length)).toEqual([2, 4]);
  });

  it('runs a statement without a declared write alone, and keeps a lone write as it is', () => {
    const plain = { text: 'select 1 where $1::int > 0', values: [1] };
    const out = combineWrites([upsert('a'), plain, upsert('b')]);
    expect(out.map((st) => st.text)).toEqual([upsert('a').text, plain.text, upsert('b').text]);
  });

  it('makes `last` the main query of the last statement, or runs it alone after one it cannot join', () => {
    const notify = { text: 'select pg_notify($1, $2)', values: ['ch', 'payload'] };
    const joined = combineWrites([upsert('a'), upsert('b')], notify);
    expect(joined).toHaveLength(1);
    expect(joined[0]?.text).toMatch(/ select pg_notify\(\$5, \$6\)$/);
    expect(joined[0]?.values).toEqual(['{1}', '{5}', '{1}', '{5}', 'ch', 'payload']);
    const lone = combineWrites([upsert('a')], notify);
    expect(lone[0]?.text).toMatch(/^with w0 as \(insert into a .*\) select pg_notify\(\$3, \$4\)$/);
    const plain = { text: 'select 2', values: [] };
    expect(combineWrites([upsert('a'), plain], notify).map((st) => st.text)).toEqual([upsert('a').text, plain.text, notify.text]);
    expect(combineWrites([], notify)).toEqual([notify]);
  });

  it('leaves $n inside quoted literals and identifiers as written', () => {
    const quoted = { text: `insert into "b$1" (k, note) select $1::int, 'costs $2, it''s $1' || $2::text`, values: [1, 'x'], writes: 'b' };
    const out = combineWrites([upsert('a'), quoted]);
    expect(out[0]?.text).toContain(`w1 as (insert into "b$1" (k, note) select $3::int, 'costs $2, it''s $1' || $4::text)`);
    expect(() => combineWrites([upsert('a'), { text: "insert into b (k) values ('unterminated)", values: [], writes: 'b' }])).toThrow(/unterminated/);
  });

  it('refuses a placeholder beyond its statement\'s values instead of renumbering it', () => {
    expect(() => combineWrites([upsert('a'), { text: "insert into b (k) values ($1), ($2)", values: [1], writes: 'b' }])).toThrow(/\$2 in a statement with 1 values/);
  });

  it('writes, in PostgreSQL, what the statements one by one write: sums, a delete after the upsert it depends on, the NOTIFY', async () => {
    await pool.query('create table cw_levels (k int primary key, n int not null)');
    await pool.query('create table cw_trades (k int primary key, n int not null)');
    await pool.query('insert into cw_levels values (1, 5), (2, 7)');
    const batch = (): WriteStatement[] => [
      { text: 'insert into cw_levels as l (k, n) select * from unnest($1::int[], $2::int[]) on conflict (k) do update set n = l.n + excluded.n', values: ['{1,2,3}', '{-5,1,4}'], writes: 'cw_levels' },
      { text: 'insert into cw_trades (k, n) select * from unnest($1::int[], $2::int[])', values: ['{10,11}', '{1,2}'], writes: 'cw_trades' },
      { text: 'delete from cw_levels l using unnest($1::int[]) as x(k) where l.k = x.k and l.n = 0', values: ['{1,2,3}'], writes: 'cw_levels', reads: ['cw_levels'] },
    ];
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (m) => heard.push(m.payload ?? ''));
    await listener.query('listen cw_channel');
    const statements = combineWrites(batch(), { text: 'select pg_notify($1, $2)', values: ['cw_channel', 'batch 1'] });
    expect(statements).toHaveLength(2);
    const client = await pool.connect();
    try {
      await client.query('begin');
      for (const st of statements) await client.query(st.text, st.values);
      await client.query('commit');
    } finally {
      client.release();
    }
    const levels = await pool.query<{ k: number; n: number }>('select k, n from cw_levels order by k');
    expect(levels.rows).toEqual([{ k: 2, n: 8 }, { k: 3, n: 4 }]);
    const trades = await pool.query<{ k: number; n: number }>('select k, n from cw_trades order by k');
    expect(trades.rows).toEqual([{ k: 10, n: 1 }, { k: 11, n: 2 }]);
    for (let i = 0; i < 50 && heard.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await listener.end();
    expect(heard).toEqual(['batch 1']);
  });
});
