/**
 * Projections fed from Kafka: the single-partition `tradecore.events` topic carries every event in
 * global order. The projector commits each batch together with its checkpoint and skips events at
 * or below it, so a redelivery applies nothing twice; the consumer's offsets only bound how much is
 * redelivered after a restart. They are therefore committed every `commitIntervalMs` (default 1 s)
 * and on a graceful stop, not after every batch: a commit is a Kafka round trip, and kafkajs fetches
 * again only once the batch handler returned (the engine's consumers do the same, kafka-engine.ts).
 */
import type { Consumer, Kafka } from 'kafkajs';
import type { RecordedEvent } from '@tradecore/event-store';
import { decodeRecordedEvent, topicName } from '@tradecore/engine';
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
}

export async function startKafkaProjections(options: KafkaProjectionOptions): Promise<KafkaProjectionConsumer> {
  const topic = topicName(options.topicPrefix, 'events');
  const commitIntervalMs = options.commitIntervalMs ?? 1_000;
  const consumer: Consumer = options.kafka.consumer({
    groupId: options.groupId ?? `${options.topicPrefix}tradecore-projections-${options.projector.schema}`,
    allowAutoTopicCreation: false,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
  });
  /** Offset to commit per partition (the next one to read), set once its batch is projected. */
  const pending = new Map<number, string>();
  let inFlight = 0;
  const idle: (() => void)[] = [];
  const commitPending = async (): Promise<void> => {
    if (pending.size === 0) return;
    const offsets = [...pending].map(([partition, offset]) => ({ topic, partition, offset }));
    pending.clear();
    try {
      await consumer.commitOffsets(offsets);
    } catch (err) {
      // Not committed: those events are redelivered after a restart and skipped by the checkpoint.
      options.log?.(`projections: committing consumer offsets failed: ${(err as Error).message}`);
    }
  };

  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async (payload) => {
      const { batch } = payload;
      if (!payload.isRunning() || payload.isStale() || batch.messages.length === 0) return;
      inFlight += 1;
      try {
        const events: RecordedEvent[] = [];
        for (const message of batch.messages) events.push(decodeRecordedEvent(message.value));
        // Throws on a database failure: kafkajs retries the batch from the last resolved offset.
        await options.projector.apply(events);
        const last = batch.lastOffset();
        payload.resolveOffset(last);
        pending.set(batch.partition, (BigInt(last) + 1n).toString());
        if (commitIntervalMs === 0) await commitPending();
        await payload.heartbeat();
      } finally {
        inFlight -= 1;
        if (inFlight === 0) for (const wake of idle.splice(0)) wake();
      }
    },
  });
  const timer = commitIntervalMs > 0 ? setInterval(() => void commitPending(), commitIntervalMs) : undefined;
  timer?.unref();

  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        clearInterval(timer);
        try {
          consumer.pause([{ topic }]);
        } catch {
          // not running (it crashed or never joined): nothing is in flight
        }
        if (inFlight > 0) await new Promise<void>((resolve) => idle.push(resolve));
        // disconnect() commits nothing with autoCommit off.
        await commitPending();
        await consumer.disconnect();
      })();
      return stopped;
    },
  };
}
