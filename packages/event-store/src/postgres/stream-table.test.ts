import { describe, expect, it } from 'vitest';
import { StreamTable } from './stream-table.ts';

const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');

describe('StreamTable', () => {
  it('finds every stream it was given by its bytes, through growth and rehashing, and no other', () => {
    const t = new StreamTable();
    const names = Array.from({ length: 20_000 }, (_, i) => (i % 7 === 0 ? `order-${i}-ünïcode` : i % 5 === 0 ? `a${i}` : `account-${i}`));
    // the name inside a larger buffer, as a COPY row holds it
    for (const [i, name] of names.entries()) {
      const row = Buffer.concat([bytes('xx'), bytes(name), bytes('yyy')]);
      expect(t.find(row, 2, row.length - 3)).toBe(-1);
      const slot = t.add(row, 2, row.length - 3);
      expect(slot).toBe(i);
      t.next[slot] = i + 1;
      t.hashes[slot * 32] = i & 0xff;
    }
    expect(t.size).toBe(names.length);
    for (const [i, name] of names.entries()) {
      const b = bytes(name);
      const slot = t.find(b, 0, b.length);
      expect(slot).toBe(i);
      expect(t.name(slot)).toBe(name);
      expect(t.next[slot]).toBe(i + 1);
      expect(t.hashOf(slot)[0]).toBe(i & 0xff);
    }
    for (const other of ['account-20000', 'order-0', '', 'account-1 ']) expect(t.find(bytes(other), 0, bytes(other).length), other).toBe(-1);
  });

  it('is used as is after being handed over as data (structured clone)', () => {
    const t = new StreamTable();
    for (const name of ['acct-1', 'acct-2', 'market-BTC-USD']) t.add(bytes(name), 0, bytes(name).length);
    const copy = new StreamTable(structuredClone(t.toData()));
    expect(copy.names()).toEqual(['acct-1', 'acct-2', 'market-BTC-USD']);
    expect(copy.find(bytes('acct-2'), 0, 6)).toBe(1);
    expect(copy.last[2]).toBe(-1);
    expect(copy.headed[2]).toBe(0);
  });
});
