/**
 * Projections fed from Kafka: the single-partition `tradecore.events` topic carries every event in
 * global order. The projector commits each batch together with its checkpoint and skips events at
 * or below it, so a redelivery applies nothing twice; the consumer's offsets only bound how much is
 * redelivered after a restart. They are therefore committed every `commitIntervalMs` (default 1 s)
 * and on a graceful stop, not after every batch: a commit is a Kafka round trip, and kafkajs fetches
 * again only once the batch handler returned (engine's OffsetCommitter, as the engine's consumers).
 */
import type { Consumer, Kafka } from 'kafkajs';
import type { RecordedEvent } from '@tradecore/event-store';
import { OffsetCommitter, consumerFetch, decodeRecordedEvent, topicName, type KafkaFetchTuning } from '@tradecore/engine';
import type { Projector } from './projector.ts';

export interface KafkaProjectionConsumer {
  /** Stops fetching, lets the batch in flight finish, commits its offset, leaves the group. */
  stop(): Promise<void>;
}

export interface KafkaProjectionOptions {
  kafka: Kafka;
  topicPrefix: string;
  projector: Projector;
  groupId?: string;
  /** How often finished batches' offsets are committed; 0: after every batch. Default 1,000 ms. */
  commitIntervalMs?: number;
  log?: (line: string) => void;
  /** As the engine's consumers (`KafkaFetchTuning`, default `DEFAULT_FETCH`). */
  fetch?: KafkaFetchTuning;
}

export async function startKafkaProjections(options: KafkaProjectionOptions): Promise<KafkaProjectionConsumer> {
  const topic = topicName(options.topicPrefix, 'events');
  const commitIntervalMs = options.commitIntervalMs ?? 1_000;
  const consumer: Consumer = options.kafka.consumer({
    groupId: options.groupId ?? `${options.topicPrefix}tradecore-projections-${options.projector.schema}`,
    allowAutoTopicCreation: false,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    ...consumerFetch(options.fetch),
  });
  const offsets = new OffsetCommitter(consumer, topic, commitIntervalMs, (err) =>
    options.log?.(`projections: committing consumer offsets failed: ${(err as Error).message}`),
  );

  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async (payload) => {
      const { batch } = payload;
      if (!payload.isRunning() || payload.isStale() || batch.messages.length === 0) return;
      await offsets.track(async () => {
        const events: RecordedEvent[] = [];
        for (const message of batch.messages) events.push(decodeRecordedEvent(message.value));
        // Throws on a database failure: kafkajs retries the batch from the last resolved offset.
        await options.projector.apply(events);
        payload.resolveOffset(batch.lastOffset());
        await offsets.finished(batch.partition, batch.lastOffset());
        await payload.heartbeat();
      });
    },
  });
  offsets.start();

  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        try {
          consumer.pause([{ topic }]);
        } catch {
          // not running (it crashed or never joined): nothing is in flight
        }
        await offsets.stop();
        await consumer.disconnect();
      })();
      return stopped;
    },
  };
}
