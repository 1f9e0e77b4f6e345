/**
 * Load schedules and peak detection. A ramp offers load in equal-length steps of increasing target
 * rate; the peak sustained rate is the highest step the system kept up with: it accepted about
 * what was offered, the command p99 stayed bounded, the read models kept up (lag p99 bounded), and
 * errors stayed rare. One noisy failing step is tolerated; two failing steps in a row end the
 * search (everything above them is ignored, since the backlog they leave spoils later steps).
 */

export interface Step {
  /** Target (offered) rate in commands per second. */
  rate: number;
  durationMs: number;
  label: string;
}

/**
 * Equal-length steps from `fromRate` to `toRate`: `geometric` (the default: the same ratio between
 * steps, so low and high rates get the same relative resolution) or `linear`.
 */
export function rampSchedule(totalSeconds: number, fromRate: number, toRate: number, steps: number, shape: 'geometric' | 'linear' = 'geometric'): Step[] {
  if (!(totalSeconds > 0) || !(steps >= 1) || !(fromRate > 0) || !(toRate >= fromRate)) {
    throw new RangeError(`bad ramp: ${totalSeconds}s ${fromRate}→${toRate} in ${steps} steps`);
  }
  const n = Math.floor(steps);
  const durationMs = Math.floor((totalSeconds * 1000) / n);
  return Array.from({ length: n }, (_, i) => {
    const f = n === 1 ? 0 : i / (n - 1);
    const rate = shape === 'linear' ? Math.round(fromRate + (toRate - fromRate) * f) : Math.round(fromRate * (toRate / fromRate) ** f);
    return { rate, durationMs, label: `step ${i + 1}/${n}` };
  });
}

/** True when the last `failures` judged steps all failed: the ramp can stop there. */
export function shouldStop(judged: readonly { ok: boolean }[], failures: number): boolean {
  if (failures <= 0 || judged.length < failures) return false;
  return judged.slice(-failures).every((j) => !j.ok);
}

export function soakSchedule(seconds: number, rate: number): Step[] {
  if (!(seconds > 0) || !(rate > 0)) throw new RangeError(`bad soak: ${seconds}s at ${rate}/s`);
  return [{ rate, durationMs: Math.round(seconds * 1000), label: 'soak' }];
}

export interface StepResult {
  rate: number;
  seconds: number;
  /** Commands due by the schedule. */
  offered: number;
  /** Commands answered 202. */
  accepted: number;
  /** Answers other than 202 that count as failures (5xx, network errors, 429, unexpected 4xx). */
  errors: number;
  /** Command latency p99 in ms (from the scheduled send time), null without samples. */
  p99Ms: number | null;
  /** Read-model lag p99 in ms, null without samples. */
  lagP99Ms: number | null;
}

export interface PeakCriteria {
  /** accepted / offered at or above this. */
  minAcceptedRatio: number;
  maxP99Ms: number;
  /** Ignored for steps without lag samples. */
  maxLagP99Ms: number;
  maxErrorRatio: number;
}

export const DEFAULT_CRITERIA: PeakCriteria = { minAcceptedRatio: 0.95, maxP99Ms: 100, maxLagP99Ms: 1_000, maxErrorRatio: 0.01 };

export interface Judged extends StepResult {
  acceptedRate: number;
  ok: boolean;
  reasons: string[];
}

export function judgeStep(s: StepResult, c: PeakCriteria = DEFAULT_CRITERIA): Judged {
  const reasons: string[] = [];
  const acceptedRate = s.seconds > 0 ? s.accepted / s.seconds : 0;
  if (s.offered === 0) reasons.push('nothing offered');
  else if (s.accepted / s.offered < c.minAcceptedRatio) reasons.push(`accepted ${s.accepted}/${s.offered} < ${c.minAcceptedRatio}`);
  if (s.p99Ms === null) reasons.push('no latency samples');
  else if (s.p99Ms > c.maxP99Ms) reasons.push(`p99 ${s.p99Ms} ms > ${c.maxP99Ms} ms`);
  if (s.lagP99Ms !== null && s.lagP99Ms > c.maxLagP99Ms) reasons.push(`lag p99 ${s.lagP99Ms} ms > ${c.maxLagP99Ms} ms`);
  if (s.offered > 0 && s.errors / s.offered > c.maxErrorRatio) reasons.push(`errors ${s.errors}/${s.offered} > ${c.maxErrorRatio}`);
  return { ...s, acceptedRate, ok: reasons.length === 0, reasons };
}

export interface Peak {
  judged: Judged[];
  /** Index of the peak step, or -1 when no step passed. */
  index: number;
  /** The peak step's target rate (0 when none passed). */
  rate: number;
  /** Accepted commands per second measured in the peak step (0 when none passed). */
  acceptedRate: number;
}

export function findPeak(steps: readonly StepResult[], c: PeakCriteria = DEFAULT_CRITERIA): Peak {
  const judged = steps.map((s) => judgeStep(s, c));
  let index = -1;
  for (let i = 0; i < judged.length; i++) {
    const j = judged[i]!;
    if (j.ok) {
      if (index < 0 || j.rate >= judged[index]!.rate) index = i;
    } else if (i + 1 < judged.length && !judged[i + 1]!.ok) {
      break;
    }
  }
  const peak = index >= 0 ? judged[index]! : null;
  return { judged, index, rate: peak?.rate ?? 0, acceptedRate: peak?.acceptedRate ?? 0 };
}
