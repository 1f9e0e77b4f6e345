/**
 * Projections fed from Kafka: the single-partition `tradecore.events` topic carries every event in
 * global order. Offsets are committed only after the projector committed the batch; the projector
 * skips events at or below its checkpoint, so a redelivery applies nothing twice.
 */
import type { Kafka } from 'kafkajs';
import type { RecordedEvent } from '@tradecore/event-store';
import { decodeRecordedEvent, topicName } from '@tradecore/engine';
import type { Projector } from './projector.ts';

export interface KafkaProjectionConsumer {
  stop(): Promise<void>;
}

export async function startKafkaProjections(options: { kafka: Kafka; topicPrefix: string; projector: Projector; groupId?: string; log?: (line: string) => void }): Promise<KafkaProjectionConsumer> {
  const topic = topicName(options.topicPrefix, 'events');
  const consumer = options.kafka.consumer({
    groupId: options.groupId ?? `${options.topicPrefix}tradecore-projections-${options.projector.schema}`,
    allowAutoTopicCreation: false,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async (payload) => {
      const { batch } = payload;
      const events: RecordedEvent[] = [];
      for (const message of batch.messages) events.push(decodeRecordedEvent(message.value));
      if (!payload.isRunning() || payload.isStale() || events.length === 0) return;
      // Throws on a database failure: kafkajs retries the batch from the last committed offset.
      await options.projector.apply(events);
      const last = batch.messages[batch.messages.length - 1];
      if (last) payload.resolveOffset(last.offset);
      await payload.commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last?.offset ?? '0') + 1n).toString() }] }] });
      await payload.heartbeat();
    },
  });
  return {
    async stop() {
      await consumer.disconnect();
    },
  };
}
