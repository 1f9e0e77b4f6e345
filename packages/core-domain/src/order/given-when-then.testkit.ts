/**
 * Test-only helper: given/when/then over any core-domain decider.
 *   spec(decider).given(events).when(command).then(expectedEvents)
 * A given entry may be an event or `{ event, meta }` to replay with decision metadata.
 */
import { expect } from 'vitest';

interface AnyDecider<C, S, E, M> {
  decide(command: C, state: S): E[];
  evolve(state: S, event: E, meta?: M): S;
  initialState(): S;
}

export interface Given<E, M> {
  event: E;
  meta: M;
}

function isGiven<E, M>(x: E | Given<E, M>): x is Given<E, M> {
  return typeof x === 'object' && x !== null && 'event' in x && 'meta' in x;
}

export function spec<C, S, E, M>(decider: AnyDecider<C, S, E, M>, initial?: () => S) {
  return {
    given: (events: readonly (E | Given<E, M>)[] = []) => {
      const state = events.reduce<S>(
        (s, e) => (isGiven(e) ? decider.evolve(s, e.event, e.meta) : decider.evolve(s, e)),
        initial ? initial() : decider.initialState(),
      );
      return {
        state,
        when(command: C) {
          return {
            then(expected: readonly E[]): E[] {
              const out = decider.decide(command, state);
              expect(out).toEqual(expected);
              return out;
            },
            thenMatch(expected: readonly unknown[]): E[] {
              const out = decider.decide(command, state);
              expect(out).toMatchObject(expected as E[]);
              expect(out).toHaveLength(expected.length);
              return out;
            },
            thenNothing(): void {
              expect(decider.decide(command, state)).toEqual([]);
            },
            thenThrows(error: abstract new (...args: never[]) => Error): void {
              expect(() => decider.decide(command, state)).toThrow(error);
            },
            events(): E[] {
              return decider.decide(command, state);
            },
          };
        },
      };
    },
  };
}
