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
  const out = serialize(value, '$');
  if (out === undefined) throw new TypeError('canonicalize: value has no JSON representation');
  return out;
}

function serialize(input: unknown, path: string): string | undefined {
  let value = input;
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON: (key: string) => unknown }).toJSON('');
  }
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalize: non-finite number at ${path}`);
      // ECMAScript Number#toString, which is RFC 8785's number format (and -0 becomes "0").
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new TypeError(`canonicalize: bigint at ${path} has no JSON form (encode it as a string)`);
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        const parts: string[] = [];
        for (let i = 0; i < value.length; i++) {
          parts.push(serialize(value[i] as unknown, `${path}[${i}]`) ?? 'null');
        }
        return `[${parts.join(',')}]`;
      }
      if (value instanceof Number || value instanceof String || value instanceof Boolean) {
        return serialize(value.valueOf(), path);
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      const parts: string[] = [];
      for (const key of keys) {
        const member = serialize(record[key], `${path}.${key}`);
        if (member !== undefined) parts.push(`${JSON.stringify(key)}:${member}`);
      }
      return `{${parts.join(',')}}`;
    }
  }
}
