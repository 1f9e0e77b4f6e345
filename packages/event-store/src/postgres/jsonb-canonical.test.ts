import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalize } from '../canonical-json.ts';
import { JsonbCanonicalWriter } from './jsonb-canonical.ts';

/**
 * The writer must produce exactly canonicalize(JSON.parse(text)) for every text jsonb_out prints,
 * or decline (-1). These values go through a real jsonb column first, so the texts are
 * PostgreSQL's own.
 */

let db: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase('es_jsonb_canon');
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

/** jsonb_out's text of each JSON text, as UTF-8 bytes. */
async function throughJsonb(texts: string[]): Promise<Buffer[]> {
  const r = await pool.query<{ t: string }>(
    'select (u.t::jsonb)::text as t from unnest($1::text[]) with ordinality as u(t, i) order by u.i',
    [texts],
  );
  return r.rows.map((x) => Buffer.from(x.t, 'utf8'));
}

function fast(bytes: Buffer): string | undefined {
  const out = Buffer.alloc(bytes.length * 4 + 64);
  const n = new JsonbCanonicalWriter(1 << 16).write(bytes, 0, bytes.length, out, 0);
  return n < 0 ? undefined : out.toString('utf8', 0, n);
}

function reference(bytes: Buffer): string {
  return canonicalize(JSON.parse(bytes.toString('utf8')));
}

/** Deterministic pseudo-random values: nested objects and arrays, awkward strings and numbers. */
function generate(seed: number, count: number): unknown[] {
  let x = seed;
  const rnd = (n: number): number => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  const chars = ['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', '\u0001', '\u001f', '\u007f', 'é', '€', '\u2028', '😀', '\ud7ff', '\ue000', '\uffff'];
  const str = (): string => Array.from({ length: rnd(12) }, () => chars[rnd(chars.length)] ?? '').join('');
  const keys = ['a', 'b', 'aa', 'ab', 'B', 'Z', '_', '10', '2', 'userId', 'user', 'id', 'occurredAt', 'x-y', 'a b', '~'];
  const nums = [0, -0, 1, -1, 0.5, 1.5, -2.25, 1e21, 1e-7, 123456789012345680000, 5e-324, 1.7976931348623157e308, 0.1 + 0.2, 999999999999999, 1e15, 9007199254740993, -1e-300];
  const value = (depth: number): unknown => {
    const k = rnd(depth > 3 ? 4 : 7);
    if (k === 0) return str();
    if (k === 1) return nums[rnd(nums.length)];
    if (k === 2) return [null, true, false][rnd(3)];
    if (k === 3) return rnd(1000) - 500;
    if (k === 4) return Array.from({ length: rnd(4) }, () => value(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = rnd(6); i > 0; i--) o[keys[rnd(keys.length)] ?? 'k'] = value(depth + 1);
    return o;
  };
  return Array.from({ length: count }, () => value(0));
}

describe('JsonbCanonicalWriter', () => {
  it('writes canonicalize(JSON.parse(text)) for jsonb texts with ASCII keys, whatever the values', async () => {
    const values = generate(20250314, 3000);
    const texts = await throughJsonb(values.map((v) => JSON.stringify(v)));
    let declined = 0;
    for (const t of texts) {
      const got = fast(t);
      if (got === undefined) declined++;
      else expect(got).toBe(reference(t));
    }
    // only keys outside printable ASCII make it decline, and these generated keys are all ASCII
    expect(declined).toBe(0);
  });

  it('copies jsonb strings as canonicalize writes them: escapes, control characters, non-ASCII', async () => {
    const strings = ['', 'plain', 'quote " backslash \\ slash /', '\b\f\n\r\t', '\u0001\u0002\u000b\u001f\u007f', 'é € 😀 \u2028 \u2029 \ufeff', '\ud7ff\ue000\uffff'];
    const texts = await throughJsonb(strings.map((v) => JSON.stringify({ v, [v.length > 0 ? 'k' : 'e']: [v] })));
    for (const t of texts) expect(fast(t)).toBe(reference(t));
  });

  it('writes numbers as ECMAScript does, from the decimal text jsonb prints', async () => {
    const numbers = ['0', '-0', '1.50', '100', '1E2', '12.0', '-0.000', '1e21', '1e-7', '0.1', '123456789012345678901234567890', '999999999999999', '1000000000000000', '9007199254740993', '5e-324', '1.7976931348623157e308', '-123.456e-2', '0.30000000000000004'];
    const texts = await throughJsonb(numbers.map((n) => `{"n": ${n}, "a": [${n}]}`));
    for (const t of texts) expect(fast(t)).toBe(reference(t));
    // PostgreSQL prints jsonb numbers in plain decimal: the writer met and converted long forms
    expect(texts.some((t) => t.toString().includes('1000000000000000000000'))).toBe(true);
  });

  it('sorts members by UTF-16 code units, not by jsonb\'s length-first order', async () => {
    const [t] = await throughJsonb(['{"bb": 1, "a": 2, "ccc": {"z": 1, "yy": 2, "x": 3}, "B": 4, "10": 5, "9": 6}']);
    expect(t?.toString()).toBe('{"9": 6, "B": 4, "a": 2, "10": 5, "bb": 1, "ccc": {"x": 3, "z": 1, "yy": 2}}');
    expect(fast(t as Buffer)).toBe('{"10":5,"9":6,"B":4,"a":2,"bb":1,"ccc":{"x":3,"yy":2,"z":1}}');
  });

  it('declines what it cannot prove equal (non-ASCII or escaped keys, numbers beyond double range) and nothing else', async () => {
    const texts = await throughJsonb(['{"é": 1}', '{"a\\"b": 1}', '{"\\u0001": 1}', '{"😀": 1, "\uffff": 2}', `{"big": 1${'0'.repeat(400)}}`]);
    for (const t of texts) expect(fast(t)).toBeUndefined();
    // the reference orders those keys by UTF-16 code units (U+FFFF after the surrogate pair of 😀)
    expect(reference(texts[3] as Buffer)).toBe('{"😀":1,"\uffff":2}');
    expect(() => reference(texts[4] as Buffer)).toThrow(/non-finite/);
  });

  it('writes arrays of flat objects and flat objects one level down (a risk decision\'s checks) as the reference does', async () => {
    const fixed = [
      '{"side": "sell", "checks": [{"rule": "market.listed", "limit": null, "observed": "3"}, {"rule": "control", "limit": null, "observed": null}, {"rule": "price_band.high", "limit": "116.63", "observed": "106.16"}], "userId": 532}',
      '{"a": [], "b": {}, "c": [{}], "d": [1, "x", true, null, -5, {"k": "v", "kk": false}], "e": {"z": 1, "yy": "q\\"w", "x": -0}}',
      '{"a": [1.5, 2, {"n": 1e21}], "b": {"n": 0.1}}',
      '{"a": [[1], {"b": [2]}], "c": {"d": {"e": 1}}, "f": [{"g": {"h": 1}}]}',
      '{"a": [{"bb": 1, "a": 2, "B": 3, "10": 4, "9": 5}, "s\\u0001", {"é": 1}], "b": {"😀": 1}}',
      '{"a": [{"x": "\\n\\t\\"", "xx": 123456789012345}, {"x": 1234567890123456}]}',
    ];
    // random objects whose values are arrays of flat objects and flat objects
    const keys = ['a', 'b', 'aa', 'ab', 'B', 'Z', '_', '10', '2', 'rule', 'limit', 'observed', 'x-y', 'a b', '~', ''];
    const leaves = ['', 'plain', 'q"b\\', '\n\t\u0001', 'é€😀', 0, -1, 7, 999999999999999, 1.5, 1e21, -0, null, true, false];
    let x = 42;
    const rnd = (n: number): number => (x = (x * 1103515245 + 12345) % 2147483648) % n;
    const flatObject = (): Record<string, unknown> => {
      const o: Record<string, unknown> = {};
      for (let i = rnd(5); i > 0; i--) o[keys[rnd(keys.length)] ?? 'k'] = leaves[rnd(leaves.length)];
      return o;
    };
    const random = Array.from({ length: 2000 }, () => {
      const o: Record<string, unknown> = {};
      for (let i = 1 + rnd(5); i > 0; i--) {
        const r = rnd(4);
        o[keys[rnd(keys.length)] ?? 'k'] =
          r === 0 ? Array.from({ length: rnd(4) }, () => (rnd(3) === 0 ? leaves[rnd(leaves.length)] : flatObject())) : r === 1 ? flatObject() : leaves[rnd(leaves.length)];
      }
      return JSON.stringify(o);
    });
    const texts = await throughJsonb([...fixed, ...random]);
    let written = 0;
    for (const t of texts) {
      const got = fast(t);
      if (got !== undefined) {
        expect(got, t.toString()).toBe(reference(t));
        written++;
      }
    }
    // only the non-ASCII keys of the fixed texts decline
    expect(written).toBe(texts.length - 1);
  });

  it('refuses text that is not one JSON value', () => {
    for (const t of ['{"a": 1', '{"a" 1}', '[1, 2', '{"a": 1} x', 'tru', '{"a": 1, "a": 2}', '"open', '1.2.3', '+1', '']) {
      expect(fast(Buffer.from(t))).toBeUndefined();
    }
  });
});
