/**
 * Deterministic ids for handler decisions. A decision's event ids are UUIDv5 of the source event
 * id, the stream the decision is written to and the event's index in the decision, so that
 * re-deciding a redelivered input produces the same ids and the event store's idempotent append
 * turns the second write into a no-op.
 */
import { createHash } from 'node:crypto';
import type { EventMetadata, RecordedEvent } from '@tradecore/event-store';

/** The fixed Tradecore namespace for engine-derived ids (never change: it would change every id). */
export const TRADECORE_ENGINE_NAMESPACE = '6f1c2a8e-3b5d-5c47-9a1e-7d0b4e2f9c31';
const NAMESPACE_BYTES = Buffer.from(TRADECORE_ENGINE_NAMESPACE.replaceAll('-', ''), 'hex');

/**
 * RFC 9562 UUIDv5 in the engine's namespace: SHA-1 of namespace and name, version and variant bits
 * set. The same ids as the `uuid` package's v5 (a test proves it), without its per-call namespace
 * parsing and byte-array conversions: every decided event gets one.
 */
export function uuidV5(name: string): string {
  const h = createHash('sha1').update(NAMESPACE_BYTES).update(name, 'utf8').digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.toString('hex', 0, 16);
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

export function derivedEventId(sourceEventId: string, stream: string, index: number): string {
  return uuidV5(`${sourceEventId}|${stream}|${index}`);
}

/** A trade id derived from the input that caused it (the execution decider may use its own). */
export function derivedId(...parts: readonly (string | number)[]): string {
  return uuidV5(parts.join('|'));
}

/**
 * The metadata of every event a handler decides for `source`: the correlation carried over, the
 * input as the cause, and the input's position and time (what makes a redelivery recognisable).
 */
export function decisionMetadata(source: RecordedEvent, clock: Clock): EventMetadata {
  return {
    correlationId: source.metadata.correlationId ?? source.eventId,
    causationId: source.eventId,
    userId: source.metadata.userId ?? null,
    occurredAt: clock.now().toISOString(),
    schemaVersion: 1,
    inputPosition: source.globalPosition.toString(),
    inputAt: typeof source.metadata.occurredAt === 'string' ? source.metadata.occurredAt : null,
  };
}

/** Injected time. Structurally the same as http-kit's `Clock`. */
export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };
