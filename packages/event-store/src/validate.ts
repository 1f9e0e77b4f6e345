import type { ExpectedRevision, NewEvent } from './port.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Stream names: non-empty, not starting with `$` (reserved for EventStoreDB system streams). */
export function assertStreamName(stream: string): void {
  if (typeof stream !== 'string' || stream.length === 0) throw new TypeError('stream name must be a non-empty string');
  if (stream.startsWith('$')) throw new TypeError(`stream name ${JSON.stringify(stream)}: "$" prefix is reserved`);
}

/** Lower-cases and checks event ids, checks types, refuses duplicate ids within one append. */
export function normalizeEvents(stream: string, events: readonly NewEvent[]): NewEvent[] {
  const list: unknown = events;
  if (!Array.isArray(list)) throw new TypeError('events must be an array');
  const seen = new Set<string>();
  return events.map((e, i) => {
    const eventId = typeof e.eventId === 'string' ? e.eventId.toLowerCase() : '';
    if (!UUID.test(eventId)) throw new TypeError(`stream ${stream}: event ${i} has no UUID eventId`);
    if (seen.has(eventId)) throw new TypeError(`stream ${stream}: event id ${eventId} appears twice in one append`);
    seen.add(eventId);
    if (typeof e.type !== 'string' || e.type.length === 0) throw new TypeError(`stream ${stream}: event ${i} has no type`);
    if (e.type.startsWith('$')) throw new TypeError(`event type ${JSON.stringify(e.type)}: "$" prefix is reserved`);
    if (typeof e.metadata !== 'object' || e.metadata === null) {
      throw new TypeError(`stream ${stream}: event ${i} has no metadata object`);
    }
    return eventId === e.eventId ? e : { ...e, eventId };
  });
}

/** -1n means "no events yet", so it is accepted as 'no_stream'. */
export function normalizeExpected(expected: ExpectedRevision | undefined): ExpectedRevision {
  if (expected === undefined) return 'any';
  if (typeof expected === 'bigint') {
    if (expected === -1n) return 'no_stream';
    if (expected < 0n) throw new RangeError(`expected revision ${expected} is negative`);
    return expected;
  }
  switch (expected) {
    case 'any':
    case 'no_stream':
    case 'stream_exists':
      return expected;
    default:
      throw new TypeError(`unknown expected revision ${String(expected)}`);
  }
}

export function assertCount(name: string, n: number | undefined): void {
  if (n === undefined) return;
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative integer`);
}

export interface ExistingEvent {
  eventId: string;
  stream: string;
  streamRevision: bigint;
  globalPosition: bigint;
}

export type IdempotencyVerdict =
  | { kind: 'none' }
  | { kind: 'retry'; nextExpectedRevision: bigint; position: bigint }
  | { kind: 'conflict'; eventId: string };

/**
 * EventStoreDB's idempotent append, decided from the events already stored with the append's
 * ids: all of them, in the same stream, in the same order, contiguous, starting right after the
 * expected revision → a retry (nothing new is written, the original result is returned); none of
 * them → not an idempotency question; anything else → conflict.
 */
export function judgeIdempotency(
  stream: string,
  expected: ExpectedRevision,
  ids: readonly string[],
  existing: readonly ExistingEvent[],
): IdempotencyVerdict {
  if (existing.length === 0) return { kind: 'none' };
  const byId = new Map(existing.map((e) => [e.eventId.toLowerCase(), e]));
  const first = byId.get(ids[0] ?? '');
  if (existing.length === ids.length && first && first.stream === stream) {
    const start = first.streamRevision;
    let ok = true;
    for (let i = 0; i < ids.length; i++) {
      const e = byId.get(ids[i] ?? '');
      if (!e || e.stream !== stream || e.streamRevision !== start + BigInt(i)) {
        ok = false;
        break;
      }
    }
    const startOk =
      typeof expected === 'bigint' ? start === expected + 1n : expected === 'no_stream' ? start === 0n : true;
    if (ok && startOk) {
      const last = byId.get(ids[ids.length - 1] ?? '');
      if (last) return { kind: 'retry', nextExpectedRevision: last.streamRevision, position: last.globalPosition };
    }
  }
  const conflicting = ids.find((id) => byId.has(id)) ?? existing[0]?.eventId ?? '';
  return { kind: 'conflict', eventId: conflicting };
}
