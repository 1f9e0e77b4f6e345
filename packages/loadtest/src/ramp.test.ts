import { describe, expect, it } from 'vitest';
import { DEFAULT_CRITERIA, findPeak, judgeStep, rampSchedule, shouldStop, soakSchedule, type StepResult } from './ramp.ts';

const step = (rate: number, over: Partial<StepResult> = {}): StepResult => ({
  rate,
  seconds: 5,
  offered: rate * 5,
  accepted: rate * 5,
  errors: 0,
  p99Ms: 10,
  lagP99Ms: 50,
  ...over,
});

describe('schedules', () => {
  it('a ramp is equal steps from → to', () => {
    const s = rampSchedule(60, 200, 3000, 12, 'linear');
    expect(s).toHaveLength(12);
    expect(s[0]!.rate).toBe(200);
    expect(s[11]!.rate).toBe(3000);
    expect(s.every((x) => x.durationMs === 5000)).toBe(true);
    for (let i = 1; i < s.length; i++) expect(s[i]!.rate).toBeGreaterThan(s[i - 1]!.rate);
    expect(rampSchedule(10, 100, 100, 1)).toEqual([{ rate: 100, durationMs: 10_000, label: 'step 1/1' }]);
    expect(() => rampSchedule(10, 300, 100, 2)).toThrow(RangeError);
  });

  it('a geometric ramp keeps the ratio between steps', () => {
    const s = rampSchedule(60, 50, 3200, 7);
    expect(s.map((x) => x.rate)).toEqual([50, 100, 200, 400, 800, 1600, 3200]);
  });

  it('stops after n failing steps in a row', () => {
    expect(shouldStop([{ ok: true }, { ok: false }], 2)).toBe(false);
    expect(shouldStop([{ ok: false }, { ok: true }, { ok: false }, { ok: false }], 2)).toBe(true);
    expect(shouldStop([{ ok: false }, { ok: false }], 0)).toBe(false);
  });

  it('a soak is one step', () => {
    expect(soakSchedule(600, 1400)).toEqual([{ rate: 1400, durationMs: 600_000, label: 'soak' }]);
  });
});

describe('peak detection', () => {
  it('judges a step on acceptance, p99, lag and errors', () => {
    expect(judgeStep(step(100)).ok).toBe(true);
    expect(judgeStep(step(100, { accepted: 400 })).reasons[0]).toMatch(/accepted 400\/500/);
    expect(judgeStep(step(100, { p99Ms: DEFAULT_CRITERIA.maxP99Ms + 1 })).reasons[0]).toMatch(/p99/);
    expect(judgeStep(step(100, { lagP99Ms: 5_000 })).reasons[0]).toMatch(/lag p99/);
    expect(judgeStep(step(100, { lagP99Ms: null })).ok).toBe(true);
    expect(judgeStep(step(100, { errors: 50 })).reasons[0]).toMatch(/errors/);
    expect(judgeStep(step(100, { p99Ms: null })).ok).toBe(false);
  });

  it('is the highest passing step before the system falls over', () => {
    const steps = [step(100), step(200), step(300), step(400, { accepted: 1000 }), step(500, { accepted: 1000, p99Ms: 900 })];
    const p = findPeak(steps);
    expect(p.index).toBe(2);
    expect(p.rate).toBe(300);
    expect(p.acceptedRate).toBe(300);
  });

  it('tolerates one noisy step but not two in a row', () => {
    const noisy = [step(100), step(200, { p99Ms: 500 }), step(300), step(400), step(500, { p99Ms: 500 }), step(600, { p99Ms: 500 }), step(700)];
    expect(findPeak(noisy).rate).toBe(400);
  });

  it('none when nothing passes', () => {
    const p = findPeak([step(100, { p99Ms: 500 }), step(200, { p99Ms: 500 })]);
    expect(p.index).toBe(-1);
    expect(p.rate).toBe(0);
    expect(findPeak([]).index).toBe(-1);
  });

  it('a passing last step counts', () => {
    expect(findPeak([step(100), step(200, { p99Ms: 500 }), step(300)]).rate).toBe(300);
  });
});
