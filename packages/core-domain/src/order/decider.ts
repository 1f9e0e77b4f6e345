/**
 * Emmett-style deciders: `decide(command, state) => events`, `evolve(state, event) => state`,
 * `initialState()`. Every decider in core-domain has this shape; the handlers load a stream,
 * fold it with `evolve`, call `decide`, and append what it returns.
 */
import type { TradecoreEvent, TradecoreEventType } from '../events.ts';

export interface Decider<Command, State, Event, Meta = never> {
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event, meta?: Meta): State;
  initialState(): State;
}

/**
 * What a single-writer decider needs from a recorded event's metadata when it is replayed:
 * - `inputPosition`: the global position of the input that caused the event (architecture.md,
 *   exactly-once effects); the handler writes it on every decision event.
 * - `inputAt`: the time of that input (ISO 8601, from the input event's metadata); the account
 *   decider uses it to rebuild the order-rate window.
 * Positions may come back from JSON metadata as strings or numbers; they are read as bigint.
 */
export interface DecisionMeta {
  inputPosition?: bigint | number | string | null;
  inputAt?: string | null;
}

/** Metadata to record with the events of a decision taken for an input. */
export interface DecisionMetaOut {
  inputPosition: string;
  inputAt: string | null;
}

export function positionOf(meta: DecisionMeta | undefined): bigint | null {
  const p = meta?.inputPosition;
  if (p === undefined || p === null) return null;
  return typeof p === 'bigint' ? p : BigInt(p);
}

/** The events of one type out of the catalogue union. */
export type CatalogueEvent<T extends TradecoreEventType> = Extract<TradecoreEvent, { type: T }>;

/** Build a catalogue event value (schemaVersion 1). */
export function catalogueEvent<T extends TradecoreEventType>(type: T, data: CatalogueEvent<T>['data']): CatalogueEvent<T> {
  return { type, schemaVersion: 1, data } as CatalogueEvent<T>;
}
