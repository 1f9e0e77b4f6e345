import { describe, expect, it } from 'vitest';
import { finishedWithin } from './timing.ts';

describe('finishedWithin', () => {
  it('is true for work that resolves in time, false for work that does not, and passes a rejection on', async () => {
    expect(await finishedWithin(Promise.resolve('done'), 1_000)).toBe(true);
    expect(await finishedWithin(new Promise((r) => setTimeout(r, 5)), 1_000)).toBe(true);
    expect(await finishedWithin(new Promise(() => undefined), 20)).toBe(false);
    await expect(finishedWithin(Promise.reject(new Error('boom')), 1_000)).rejects.toThrow('boom');
  });
});
