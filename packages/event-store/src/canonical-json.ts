/**
 * JSON Canonicalization Scheme (RFC 8785, "JCS").
 *
 * - object members sorted by their names compared as UTF-16 code units (what Array#sort does);
 * - no whitespace;
 * - strings and numbers serialised exactly as ECMAScript's JSON.stringify does them (RFC 8785
 *   defines its number format as ECMAScript's Number#toString, and its string escaping as
 *   JSON.stringify's: only `"`, `\` and U+0000..U+001F are escaped, short forms where they exist).
 *
 * Values are taken the way JSON.stringify takes them (toJSON is called, undefined / functions /
 * symbols are dropped from objects and become null in arrays), so `canonicalize(x)` parses back to
 * the same value as `JSON.stringify(x)`. Non-finite numbers and bigints are refused: they have no
 * JSON form, and a hash over a lossy conversion would not survive a round trip through the store.
 */
export function canonicalize(value: unknown): string {
  let out: string | undefined;
  try {
    out = serialize(value);
  } catch (err) {
    if (err instanceof NotJson) throw new TypeError(`canonicalize: ${err.message} at ${locate(value, '$') ?? '$'}`);
    throw err;
  }
  if (out === undefined) throw new TypeError('canonicalize: value has no JSON representation');
  return out;
}

class NotJson extends Error {}

function prepare(input: unknown): unknown {
  if (input !== null && typeof input === 'object' && typeof (input as { toJSON?: unknown }).toJSON === 'function') {
    return (input as { toJSON: (key: string) => unknown }).toJSON('');
  }
  if (input instanceof Number || input instanceof String || input instanceof Boolean) return input.valueOf();
  return input;
}

const quotedKeys = new Map<string, string>();

function quoteKey(key: string): string {
  let q = quotedKeys.get(key);
  if (q === undefined) {
    q = JSON.stringify(key);
    if (quotedKeys.size < 10_000) quotedKeys.set(key, q);
  }
  return q;
}

function serialize(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new NotJson('non-finite number');
      // ECMAScript Number#toString, which is RFC 8785's number format (and -0 becomes "0").
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new NotJson('bigint has no JSON form (encode it as a string)');
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'object': {
      if (value === null) return 'null';
      const prepared = prepare(value);
      if (prepared !== value) return serialize(prepared);
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          out += serialize(value[i] as unknown) ?? 'null';
        }
        return `${out}]`;
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      let out = '{';
      let first = true;
      for (const key of keys) {
        const member = serialize(record[key]);
        if (member === undefined) continue;
        if (first) first = false;
        else out += ',';
        out += quoteKey(key);
        out += ':';
        out += member;
      }
      return `${out}}`;
    }
  }
}

/** Where the first value without a JSON form sits (only computed for the error message). */
function locate(input: unknown, path: string): string | undefined {
  const value = prepare(input);
  if (typeof value === 'bigint' || (typeof value === 'number' && !Number.isFinite(value))) return path;
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = locate(value[i] as unknown, `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  for (const key of Object.keys(value).sort()) {
    const found = locate((value as Record<string, unknown>)[key], `${path}.${key}`);
    if (found) return found;
  }
  return undefined;
}
