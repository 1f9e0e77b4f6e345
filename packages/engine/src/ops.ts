/**
 * The engine process's operations endpoint: `/health`, `/ready` and `/metrics` (the same http-kit
 * plugin as the APIs), so Kubernetes probes, Prometheus and the alert rules in infra/ see the relay
 * and the handlers like every other service.
 *
 * Two gauges are computed when Prometheus scrapes, not on the hot path:
 * - `tradecore_relay_lag_seconds`: age of the oldest event the relay has not published yet (0 when
 *   it is at the head). Positions are sparse (transaction ids), so an age says more than a count.
 * - `tradecore_consumer_lag_messages{group,topic}`: per handler group, the messages on its inbox
 *   topic after the group's committed offsets (high watermark − committed, summed over partitions).
 */
import Fastify from 'fastify';
import type { Admin } from 'kafkajs';
import { Gauge, type Registry } from 'prom-client';
import type { EventStore } from '@tradecore/event-store';
import { installProblemHandling, registerOps, type ReadinessCheck } from '@tradecore/http-kit';
import type { CheckpointStore } from './checkpoints.ts';
import type { Logger } from './observability.ts';

export interface RelayLagSource {
  store: Pick<EventStore, 'readAll'>;
  checkpoints: CheckpointStore;
  /** The relay's checkpoint name. */
  name: string;
  now: () => Date;
}

export interface ConsumerLagSource {
  admin: Pick<Admin, 'fetchOffsets' | 'fetchTopicOffsets'>;
  groups: readonly { groupId: string; topic: string }[];
}

/** Age in seconds of the oldest event after the relay's checkpoint; 0 when nothing waits. */
export async function relayLagSeconds(source: RelayLagSource): Promise<number> {
  const checkpoint = await source.checkpoints.load(source.name);
  const [oldest] = await source.store.readAll({ fromPosition: checkpoint, maxCount: 1 });
  if (!oldest) return 0;
  return Math.max(0, (source.now().getTime() - Date.parse(oldest.recordedAt)) / 1000);
}

/** Messages a consumer group has not committed yet on a topic, over all its partitions. */
export async function consumerLagMessages(admin: ConsumerLagSource['admin'], groupId: string, topic: string): Promise<number> {
  const [high, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
  const done = new Map<number, bigint>();
  for (const t of committed) for (const p of t.partitions) done.set(p.partition, BigInt(p.offset));
  let lag = 0n;
  for (const p of high) {
    const c = done.get(p.partition) ?? -1n;
    // -1: the group never committed on this partition; everything from the low watermark waits.
    const from = c < 0n ? BigInt(p.low) : c;
    const behind = BigInt(p.high) - from;
    if (behind > 0n) lag += behind;
  }
  return Number(lag);
}

export interface EngineOpsOptions {
  port: number;
  host: string;
  registry: Registry;
  readiness: ReadinessCheck[];
  relayLag?: RelayLagSource;
  consumerLag?: ConsumerLagSource;
  logger: Logger;
}

export interface EngineOps {
  /** The port listened on (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

export async function startEngineOps(options: EngineOpsOptions): Promise<EngineOps> {
  const { registry, logger } = options;
  const relay = options.relayLag;
  if (relay)
    new Gauge({
      name: 'tradecore_relay_lag_seconds',
      help: 'Age of the oldest event the relay has not published to Kafka yet (0 at the head)',
      registers: [registry],
      async collect() {
        try {
          this.set(await relayLagSeconds(relay));
        } catch (err) {
          // A scrape must not fail on a transient read error: the gauge keeps its last value.
          logger.warn({ err }, 'relay lag: could not read the checkpoint or the log');
        }
      },
    });
  const consumers = options.consumerLag;
  if (consumers)
    new Gauge({
      name: 'tradecore_consumer_lag_messages',
      help: 'Messages on a handler inbox topic after its consumer group committed offsets',
      labelNames: ['group', 'topic'],
      registers: [registry],
      async collect() {
        await Promise.all(
          consumers.groups.map(async ({ groupId, topic }) => {
            try {
              this.set({ group: groupId, topic }, await consumerLagMessages(consumers.admin, groupId, topic));
            } catch (err) {
              logger.warn({ err, groupId, topic }, 'consumer lag: could not fetch offsets');
            }
          }),
        );
      },
    });

  const app = Fastify({ logger: false });
  installProblemHandling(app);
  registerOps(app, { registry, readiness: options.readiness });
  await app.listen({ port: options.port, host: options.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return { port, close: () => app.close() };
}
