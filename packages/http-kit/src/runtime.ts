/** Injected time and ids: production uses the system's, tests and replay their own. */
import { randomUUID } from 'node:crypto';

export interface Clock {
  now(): Date;
}
export interface IdGenerator {
  uuid(): string;
}

export const systemClock: Clock = { now: () => new Date() };
export const randomIds: IdGenerator = { uuid: () => randomUUID() };

/** A clock tests can move. */
export function manualClock(start: Date): Clock & { advance(ms: number): void; set(d: Date): void } {
  let t = start.getTime();
  return {
    now: () => new Date(t),
    advance(ms) {
      t += ms;
    },
    set(d) {
      t = d.getTime();
    },
  };
}

/** Deterministic ids for tests: prefix-0001, prefix-0002, ... formatted as UUIDs. */
export function sequentialIds(seed = 0): IdGenerator {
  let n = seed;
  return {
    uuid() {
      n += 1;
      return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
    },
  };
}
