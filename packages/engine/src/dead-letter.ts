/**
 * Dead letters: poison inputs (undecodable, schema failure, decider throws) after bounded retries.
 * Kafka mode publishes them to the dead-letter topic keyed by the original key; single-node mode
 * writes them to the `engine_dead_letters` table. Either way: a counter and an error log line.
 */
import type { RecordedEvent } from '@tradecore/event-store';
import type { Producer } from 'kafkajs';
import type pg from 'pg';
import type { InboxInput } from './inbox.ts';
import type { EngineMetrics, Logger } from './observability.ts';

export interface DeadLetter {
  handler: string;
  input: InboxInput;
  reason: 'decode' | 'schema' | 'decider';
  error: Error;
  attempts: number;
}

export interface DeadLetterSink {
  publish(letter: DeadLetter): Promise<void>;
}

export function kafkaDeadLetterSink(producer: Producer, topic: string): DeadLetterSink {
  return {
    async publish({ handler, input, reason, error, attempts }) {
      await producer.send({
        topic,
        acks: -1,
        messages: [
          {
            key: input.key,
            value: input.raw(),
            partition: 0,
            headers: {
              handler,
              reason,
              error: error.message.slice(0, 2000),
              attempts: String(attempts),
              sourceTopic: input.source,
              sourcePartition: String(input.partition),
              sourceOffset: input.offset,
              ...(input.event
                ? { type: input.event.type, position: input.event.globalPosition.toString(), eventId: input.event.eventId }
                : {}),
            },
          },
        ],
      });
    },
  };
}

export const DEAD_LETTERS_DDL = `
create table if not exists engine_dead_letters (
  id bigserial primary key,
  handler text not null,
  reason text not null,
  key text not null,
  source text not null,
  source_partition int not null,
  source_offset text not null,
  event_id text,
  event_type text,
  global_position bigint,
  payload text not null,
  error text not null,
  attempts int not null,
  created_at timestamptz not null
)`;

export async function postgresDeadLetterSink(pool: pg.Pool, now: () => Date): Promise<DeadLetterSink> {
  await pool.query(DEAD_LETTERS_DDL);
  return {
    async publish({ handler, input, reason, error, attempts }) {
      await pool.query(
        `insert into engine_dead_letters (handler, reason, key, source, source_partition, source_offset, event_id,
           event_type, global_position, payload, error, attempts, created_at)
         values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`,
        [
          handler,
          reason,
          input.key,
          input.source,
          input.partition,
          input.offset,
          input.event?.eventId ?? null,
          input.event?.type ?? null,
          input.event?.globalPosition.toString() ?? null,
          input.raw().toString('utf8'),
          error.message,
          attempts,
          now(),
        ],
      );
    },
  };
}

/**
 * The correlation id every log line about an input carries (so logs join across services): the
 * input's metadata.correlationId, or its event id where the writer set none (as decisions do).
 * Undefined for an input that could not be decoded.
 */
export function correlationIdOf(event: Pick<RecordedEvent, 'eventId' | 'metadata'> | null | undefined): string | undefined {
  if (!event) return undefined;
  // The same rule as the decisions' metadata (stream-runner's decisionMetadata).
  const c = (event.metadata as { correlationId?: unknown } | null | undefined)?.correlationId;
  return typeof c === 'string' ? c : event.eventId;
}

/** Counts, logs and publishes one dead letter. */
export async function deadLetter(
  sink: DeadLetterSink,
  letter: DeadLetter,
  metrics: EngineMetrics,
  logger: Logger,
): Promise<void> {
  metrics.deadLetters.inc({ handler: letter.handler, reason: letter.reason });
  metrics.inputs.inc({ handler: letter.handler, outcome: 'dead_lettered' });
  logger.error(
    {
      handler: letter.handler,
      reason: letter.reason,
      key: letter.input.key,
      partition: letter.input.partition,
      offset: letter.input.offset,
      eventId: letter.input.event?.eventId,
      type: letter.input.event?.type,
      correlationId: correlationIdOf(letter.input.event),
      attempts: letter.attempts,
      err: letter.error,
    },
    'poison input dead-lettered after bounded retries',
  );
  await sink.publish(letter);
}
