import { describe, expect, it } from 'vitest';
import { canonicalize } from './canonical-json.ts';
import { canonicalEventJson } from './hash.ts';

describe('canonicalize (RFC 8785)', () => {
  it('matches the RFC example (section 3.2.2)', () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}',
    ) as unknown;
    expect(canonicalize(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts members by UTF-16 code units (RFC section 3.2.3)', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    expect(canonicalize(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('serialises numbers as ECMAScript does', () => {
    expect(canonicalize([0, -0, 1, -1.5, 1e21, 1e-7, 123456789012345680000, 5e-324, 0.1 + 0.2])).toBe(
      '[0,0,1,-1.5,1e+21,1e-7,123456789012345680000,5e-324,0.30000000000000004]',
    );
  });

  it('takes values the way JSON.stringify does', () => {
    const d = new Date('2025-01-02T03:04:05.000Z');
    expect(canonicalize({ b: undefined, a: d, c: [undefined, () => 1], d: null })).toBe(
      '{"a":"2025-01-02T03:04:05.000Z","c":[null,null],"d":null}',
    );
    expect(() => canonicalize({ n: 1n })).toThrow(/bigint .* at \$\.n$/);
    expect(() => canonicalize([Infinity])).toThrow(/non-finite/);
    expect(() => canonicalize(undefined)).toThrow();
  });

  it('builds the event JSON that canonicalize builds from the whole object', () => {
    const e = {
      stream: 'order-1',
      streamRevision: 12n,
      eventId: '0b1f3c1e-9a4e-4b8f-8f57-2c9a1c3e0d11',
      type: 'OrderPlaced',
      data: { z: 1, a: ['x', { q: 'é' }] },
      metadata: { correlationId: 'c', causationId: null, userId: 3, occurredAt: 't', schemaVersion: 1 },
    };
    expect(canonicalEventJson(e)).toBe(canonicalize({ ...e, streamRevision: 12 }));
  });
});
