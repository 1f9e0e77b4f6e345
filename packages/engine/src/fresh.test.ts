import { describe, expect, it } from 'vitest';
import { FreshnessGate } from './fresh.ts';

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
