import { describe, expect, it } from 'vitest';
import { describeMachineSpeed, measureMachineSpeed } from './speed.ts';

describe('machine speed figure', () => {
  it('does the same work on every machine (fixed digest) and reports best ≤ median', () => {
    const s = measureMachineSpeed({ iterations: 1_000, runs: 3 });
    // The chained SHA-256 of 1,000 serialised events: a change to the work changes it, and then
    // figures measured before and after the change are not comparable.
    expect(s.digest).toBe('364b6d7ddc673705f12ffc49a99c5f3c0f3566eec6f38f00b26d657779be7881');
    expect(s.runs).toBe(3);
    expect(s.iterations).toBe(1_000);
    expect(s.bestMs).toBeGreaterThan(0);
    expect(s.bestMs).toBeLessThanOrEqual(s.medianMs);
    expect(describeMachineSpeed(s)).toMatch(/^machine speed: [\d.]+ ms best \/ [\d.]+ ms median of 3 runs for 1,000 event round trips/);
  });
});
