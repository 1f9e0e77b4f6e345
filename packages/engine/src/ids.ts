/**
 * Deterministic ids for handler decisions. A decision's event ids are UUIDv5 of the source event
 * id, the stream the decision is written to and the event's index in the decision, so that
 * re-deciding a redelivered input produces the same ids and the event store's idempotent append
 * turns the second write into a no-op.
 */
import { v5 as uuidv5 } from 'uuid';

/** The fixed Tradecore namespace for engine-derived ids (never change: it would change every id). */
export const TRADECORE_ENGINE_NAMESPACE = '6f1c2a8e-3b5d-5c47-9a1e-7d0b4e2f9c31';

export function derivedEventId(sourceEventId: string, stream: string, index: number): string {
  return uuidv5(`${sourceEventId}|${stream}|${index}`, TRADECORE_ENGINE_NAMESPACE);
}

/** A trade id derived from the input that caused it (the execution decider may use its own). */
export function derivedId(...parts: readonly (string | number)[]): string {
  return uuidv5(parts.join('|'), TRADECORE_ENGINE_NAMESPACE);
}

/** Injected time. Structurally the same as http-kit's `Clock`. */
export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };
