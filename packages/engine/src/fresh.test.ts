import { describe, expect, it } from 'vitest';
import { FreshnessGate, KeyedFreshnessGate } from './fresh.ts';

describe('FreshnessGate', () => {
  it('shares a refresh among concurrent callers, never serves one that started before the call', async () => {
    let started = 0;
    let release: (() => void) | undefined;
    const gate = new FreshnessGate(async () => {
      started++;
      await new Promise<void>((r) => (release = r));
    });
    const a = gate.ensure();
    await Promise.resolve();
    expect(started).toBe(1);
    // b asks while a's refresh runs: that refresh started before b asked, so b needs another one.
    const b = gate.ensure();
    const c = gate.ensure();
    release!();
    await a;
    await new Promise((r) => setTimeout(r, 0));
    expect(started).toBe(2);
    release!();
    await Promise.all([b, c]);
    expect(started).toBe(2);
  });

  it('propagates a failure to the callers that waited for it', async () => {
    const gate = new FreshnessGate(() => Promise.reject(new Error('down')));
    await expect(gate.ensure()).rejects.toThrow('down');
  });
});

describe('KeyedFreshnessGate', () => {
  it('serves callers that asked during a refresh with the next one, over the union of their keys', async () => {
    const refreshes: number[][] = [];
    let release: (() => void) | undefined;
    const gate = new KeyedFreshnessGate<number>(async (keys) => {
      refreshes.push([...keys].sort());
      await new Promise<void>((r) => (release = r));
    });
    const a = gate.ensure([1]);
    await Promise.resolve();
    expect(refreshes).toEqual([[1]]);
    // b and c ask while a's refresh runs: it started before them, so one more refresh serves both.
    let bDone = false;
    const b = gate.ensure([2, 1]).then(() => (bDone = true));
    const c = gate.ensure([3]);
    release!();
    await a;
    await new Promise((r) => setTimeout(r, 0));
    expect(bDone).toBe(false);
    expect(refreshes).toEqual([[1], [1, 2, 3]]);
    release!();
    await Promise.all([b, c]);
    expect(refreshes).toHaveLength(2);
    // Idle again: the next caller starts a refresh of its own at once (no keys: only what is always read).
    const d = gate.ensure();
    await Promise.resolve();
    expect(refreshes).toEqual([[1], [1, 2, 3], []]);
    release!();
    await d;
  });

  it('fails the callers a refresh served and keeps serving later ones', async () => {
    let fail = true;
    const gate = new KeyedFreshnessGate<string>(() => (fail ? Promise.reject(new Error('down')) : Promise.resolve()));
    await expect(gate.ensure(['x'])).rejects.toThrow('down');
    fail = false;
    await expect(gate.ensure(['x'])).resolves.toBeUndefined();
  });
});
