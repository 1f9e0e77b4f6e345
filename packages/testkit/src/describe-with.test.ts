import { afterAll, describe, expect, it, vi } from 'vitest';
import { describeWith, skipTitle } from './describe-with.ts';

const warn = vi.spyOn(console, 'warn');
let ranWithResource: { n: number } | undefined;

describeWith(Promise.resolve({ n: 42 }), 'describeWith with a resource', (r) => {
  it('passes the resource to the block', () => {
    ranWithResource = r;
    expect(r.n).toBe(42);
  });
});

describeWith<{ n: number }>({ skip: 'demonstration: no such service here' }, 'describeWith without a resource', () => {
  it('is never registered', () => {
    throw new Error('the block of a skipped resource must not run');
  });
});

describe('describeWith', () => {
  afterAll(() => warn.mockRestore());
  it('printed the skip reason while collecting', () => {
    expect(warn).toHaveBeenCalledWith('[testkit] skipping "describeWith without a resource": demonstration: no such service here');
    expect(skipTitle('x', 'why')).toBe('x [skipped: why]');
  });
  it('ran the block with the resource', () => {
    expect(ranWithResource).toEqual({ n: 42 });
  });
});
