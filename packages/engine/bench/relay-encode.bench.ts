/**
 * The relay's CPU per event without a broker: buildTopicMessages (JSON value, headers, routes) and
 * kafkajs' produce request encoding with its framing, for 1,000 pipeline-shaped events (5 types,
 * 1,800 messages: the events topic plus the inboxes), repeated ROUNDS times (default 60).
 *
 *   node --max-semi-space-size=64 --import tsx packages/engine/bench/relay-encode.bench.ts
 *
 * KAFKAJS_SRC=<kafkajs/src/ directory> encodes with another kafkajs copy (e.g. the unpatched one
 * under node_modules/.pnpm/kafkajs@2.2.4/node_modules/kafkajs/src/) for a before/after figure.
 * Prints `RESULT {json}`: bytes and messages per 1,000 events, CPU and wall microseconds per event.
 */
import type { RecordedEvent } from '@tradecore/event-store';
import { createRequire } from 'node:module';
import type { Message } from 'kafkajs';
import { buildTopicMessages } from '../src/relay.ts';

const require = createRequire(import.meta.url);
const base = process.env.KAFKAJS_SRC ?? require.resolve('kafkajs').replace(/index\.js$/, 'src/');

interface Encoded {
  buffer: Buffer;
}
type ProduceRequest = (o: object) => unknown;
const produce = require(`${base}protocol/requests/produce/v3/request.js`) as ProduceRequest;
const frame = require(`${base}protocol/request.js`) as (o: { correlationId: number; clientId: string; request: unknown }) => Promise<Encoded>;
const Long = require(`${base}utils/long.js`) as { fromInt(n: number): unknown };

const N = 1000;
const ROUNDS = Number(process.env.ROUNDS ?? 60);
const TYPES = ['OrderPlaced', 'OrderAccepted', 'OrderEntered', 'TradeExecuted', 'FillSettled'];

function event(i: number): RecordedEvent {
  const orderId = `0b6f${String(i).padStart(4, '0')}-1d2c-5e6f-8a9b-0c1d2e3f4a5b`;
  const type = TYPES[i % TYPES.length]!;
  const at = new Date().toISOString();
  const data: Record<string, unknown> =
    type === 'TradeExecuted'
      ? { tradeId: orderId, marketId: 1 + (i % 8), takerOrderId: orderId, makerOrderId: orderId, takerUserId: 1000 + (i % 400), makerUserId: 1001 + (i % 400), price: '100', quantity: '1', takerSide: 'buy', executedAt: at }
      : { orderId, userId: 1000 + (i % 400), marketId: 1 + (i % 8), side: 'sell', type: 'limit', timeInForce: 'GTC', price: '100', quantity: '1', postOnly: false, selfTradePrevention: 'cancel_newest', clientOrderId: null, requestHash: 'bench', placedAt: at };
  return {
    eventId: orderId,
    stream: `order-${orderId}`,
    type,
    data,
    metadata: { correlationId: orderId, causationId: orderId, userId: 1000, occurredAt: at, schemaVersion: 1, inputPosition: '123456789000001', inputAt: at },
    streamRevision: 3n,
    globalPosition: BigInt(123456789000000 + i),
    recordedAt: at,
  };
}

const events = Array.from({ length: N }, (_, i) => event(i));

async function once(): Promise<{ bytes: number; messages: number }> {
  let bytes = 0;
  let messages = 0;
  for (const request of buildTopicMessages(events, 'p.')) {
    // As kafkajs' sendBatch groups them: per topic, per partition, in order.
    const topicData = request.map((tm) => {
      const byPartition = new Map<number, Message[]>();
      for (const m of tm.messages) {
        let list = byPartition.get(m.partition!);
        if (!list) byPartition.set(m.partition!, (list = []));
        list.push(m);
        messages++;
      }
      return { topic: tm.topic, partitions: [...byPartition].map(([partition, msgs]) => ({ partition, messages: msgs, firstSequence: 0 })) };
    });
    const encoded = await frame({ correlationId: 1, clientId: 'tradecore-engine', request: produce({ acks: -1, timeout: 30_000, producerId: Long.fromInt(5), producerEpoch: 0, topicData }) });
    bytes += encoded.buffer.length;
  }
  return { bytes, messages };
}

async function main(): Promise<void> {
  for (let i = 0; i < 20; i++) await once(); // warm-up
  let info = await once();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < ROUNDS; i++) info = await once();
  const cpu = process.cpuUsage(cpu0);
  const result = {
    bench: 'relay-encode',
    kafkajs: base,
    events: N,
    ...info,
    cpuUsPerEvent: Number(((cpu.user + cpu.system) / ROUNDS / N).toFixed(2)),
    wallUsPerEvent: Number((((performance.now() - t0) * 1000) / ROUNDS / N).toFixed(2)),
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
}

await main();
