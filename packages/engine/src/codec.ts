/**
 * Kafka message values: the RecordedEvent as JSON, bigints (streamRevision, globalPosition) as
 * decimal strings. On `tradecore.events` and the dead-letter topic, headers carry the type, the
 * global position, the stream and the event id, so a consumer (or an operator with kcat) can filter
 * without parsing the value. Inbox messages (account-inbox, market-inbox) carry none: their only
 * readers, the handlers, decode the value anyway (relay.ts buildTopicMessages).
 */
import type { EventMetadata, RawRecordedEvent, RecordedEvent } from '@tradecore/event-store';

export class EventDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventDecodeError';
  }
}

interface WireEvent {
  eventId: string;
  stream: string;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  streamRevision: string;
  globalPosition: string;
  recordedAt: string;
}

export function encodeRecordedEvent(e: RecordedEvent): Buffer {
  const wire: WireEvent = {
    eventId: e.eventId,
    stream: e.stream,
    type: e.type,
    data: e.data,
    metadata: e.metadata,
    streamRevision: e.streamRevision.toString(),
    globalPosition: e.globalPosition.toString(),
    recordedAt: e.recordedAt,
  };
  // No replacer: the revisions are converted above, and data/metadata come from stored JSON, so
  // nothing else can be a bigint; a replacer costs a call per key on the relay's hottest path.
  return Buffer.from(JSON.stringify(wire), 'utf8');
}

/**
 * The same message from an event read raw (RawRecordedEvent): its data and metadata JSON texts are
 * spliced in as they are, so the relay neither parses nor serialises them. Only the whitespace and
 * key order inside data and metadata may differ from encodeRecordedEvent's; the decoded event is
 * the same (relay-raw.test.ts).
 */
export function encodeRawRecordedEvent(e: RawRecordedEvent): Buffer {
  return Buffer.from(
    `{"eventId":${JSON.stringify(e.eventId)},"stream":${JSON.stringify(e.stream)},"type":${JSON.stringify(e.type)},` +
      `"data":${e.dataJson},"metadata":${e.metadataJson},"streamRevision":"${e.streamRevision}",` +
      `"globalPosition":"${e.globalPosition}","recordedAt":${JSON.stringify(e.recordedAt)}}`,
    'utf8',
  );
}

export function eventHeaders(e: Pick<RecordedEvent, 'type' | 'globalPosition' | 'stream' | 'eventId'>): Record<string, string> {
  return {
    type: e.type,
    position: e.globalPosition.toString(),
    stream: e.stream,
    eventId: e.eventId,
  };
}

const INTEGER = /^(0|[1-9]\d*)$/;

function str(o: Record<string, unknown>, key: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw new EventDecodeError(`field ${key} must be a string`);
  return v;
}

export function decodeRecordedEvent(value: Buffer | string | null): RecordedEvent {
  if (value === null) throw new EventDecodeError('message has no value');
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch (e) {
    throw new EventDecodeError(`value is not JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new EventDecodeError('value is not a JSON object');
  const o = parsed as Record<string, unknown>;
  const streamRevision = str(o, 'streamRevision');
  const globalPosition = str(o, 'globalPosition');
  if (!INTEGER.test(streamRevision)) throw new EventDecodeError('streamRevision must be an integer string');
  if (!INTEGER.test(globalPosition)) throw new EventDecodeError('globalPosition must be an integer string');
  const metadata = o.metadata;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
    throw new EventDecodeError('metadata must be an object');
  if (!('data' in o)) throw new EventDecodeError('data is missing');
  return {
    eventId: str(o, 'eventId'),
    stream: str(o, 'stream'),
    type: str(o, 'type'),
    data: o.data,
    metadata: metadata as EventMetadata,
    streamRevision: BigInt(streamRevision),
    globalPosition: BigInt(globalPosition),
    recordedAt: str(o, 'recordedAt'),
  };
}
