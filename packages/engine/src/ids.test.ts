import { v5 as uuidv5, validate, version } from 'uuid';
import { describe, expect, it } from 'vitest';
import { TRADECORE_ENGINE_NAMESPACE, derivedEventId, derivedId, uuidV5 } from './ids.ts';

/** Deterministic names: ASCII, separators, multi-byte UTF-8 and astral characters, many lengths. */
function names(): string[] {
  const out = ['', 'a', '|', 'Ωmega', '市場-1', '😀|stream|0', 'x'.repeat(1000)];
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  const alphabet = ['a', 'Z', '0', '-', '|', ' ', 'é', 'ß', '€', '中', '😀', '\u0000'];
  for (let i = 0; i < 2_000; i++) {
    const len = next() % 80;
    let s = '';
    for (let j = 0; j < len; j++) s += alphabet[next() % alphabet.length]!;
    out.push(s);
  }
  return out;
}

describe('engine-derived ids', () => {
  it('uuidV5 gives exactly the uuid package v5 ids in the engine namespace (ids already in logs stay valid)', () => {
    for (const name of names()) {
      const id = uuidV5(name);
      expect(id).toBe(uuidv5(name, TRADECORE_ENGINE_NAMESPACE));
      expect(validate(id) && version(id)).toBe(5);
    }
  });

  it('derivedEventId and derivedId are deterministic and differ by stream and index', () => {
    const source = '0b6f7f8e-2c1d-4a5b-8c9d-0e1f2a3b4c5d';
    expect(derivedEventId(source, 'account-1', 0)).toBe(derivedEventId(source, 'account-1', 0));
    expect(derivedEventId(source, 'account-1', 0)).toBe(uuidv5(`${source}|account-1|0`, TRADECORE_ENGINE_NAMESPACE));
    expect(derivedEventId(source, 'account-1', 1)).not.toBe(derivedEventId(source, 'account-1', 0));
    expect(derivedEventId(source, 'account-2', 0)).not.toBe(derivedEventId(source, 'account-1', 0));
    expect(derivedId('trade', source, 3)).toBe(uuidv5(`trade|${source}|3`, TRADECORE_ENGINE_NAMESPACE));
  });

  it('derives the ids already in logs (pinned: the namespace and the name layout never change)', () => {
    expect(derivedEventId('00000000-0000-4000-8000-000000000001', 'account-7', 0)).toBe('29ebcf96-2a15-559f-af82-87202325e9cf');
    expect(derivedEventId('00000000-0000-4000-8000-000000000001', 'account-7', 1)).toBe('6811597a-3fc0-5b00-9fd4-53545a79215a');
  });
});
