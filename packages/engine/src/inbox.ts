/**
 * The handler host abstraction. A handler (risk, execution) consumes one inbox; a host feeds it:
 * the Kafka host from a consumer group, the in-process host from an event-store subscription
 * routed with the same `routeEvent`. Handlers see the inputs of one partition in order.
 */
import type { RecordedEvent } from '@tradecore/event-store';
import { decodeRecordedEvent, encodeRecordedEvent } from './codec.ts';

export type InboxTopic = 'account-inbox' | 'market-inbox';

export interface InboxInput {
  /** Message key: userId (account inbox), marketId or 'control' (market inbox). */
  key: string;
  partition: number;
  /** Kafka offset; in-process the event's global position. For logs and dead letters. */
  offset: string;
  /** The event, or null when the message could not be decoded (poison). */
  event: RecordedEvent | null;
  decodeError: Error | null;
  /** The message value as published (lazily encoded in-process). */
  raw(): Buffer;
  /** Source topic for dead letters ('in-process' in single-node mode). */
  source: string;
}

export interface InboxHandler {
  readonly name: string;
  readonly inbox: InboxTopic;
  /**
   * Processes the inputs of one partition, in order. Resolves when every input has been decided
   * and appended, skipped as already applied, or dead-lettered; rejects only when it must stop
   * (the store stayed unavailable): the host then stops without committing past the batch.
   */
  handle(partition: number, inputs: readonly InboxInput[]): Promise<void>;
  /** The host's partitions changed (Kafka rebalance; in-process: every partition, once). */
  assigned(partitions: readonly number[]): Promise<void>;
  /** Ownership lost: drop cached state (a rebalance started, or the host stops). */
  revoked(): void;
}

export function inputFromEvent(event: RecordedEvent, key: string, partition: number): InboxInput {
  let raw: Buffer | undefined;
  return {
    key,
    partition,
    offset: event.globalPosition.toString(),
    event,
    decodeError: null,
    raw: () => (raw ??= encodeRecordedEvent(event)),
    source: 'in-process',
  };
}

export function inputFromMessage(
  topic: string,
  partition: number,
  message: { key: Buffer | null; value: Buffer | null; offset: string },
): InboxInput {
  let event: RecordedEvent | null = null;
  let decodeError: Error | null = null;
  try {
    event = decodeRecordedEvent(message.value);
  } catch (e) {
    decodeError = e as Error;
  }
  const value = message.value ?? Buffer.alloc(0);
  return {
    key: message.key?.toString('utf8') ?? '',
    partition,
    offset: message.offset,
    event,
    decodeError,
    raw: () => value,
    source: topic,
  };
}
