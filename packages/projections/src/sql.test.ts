import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import fc from 'fast-check';
import { arrayLiteral, bulkInsertSql, copyField, copyPayload, copyRows } from './sql.ts';

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
