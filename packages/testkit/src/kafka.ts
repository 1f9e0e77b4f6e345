/**
 * Kafka for tests. Resolution order: KAFKA_BROKERS; a container through testcontainers where a
 * Docker engine answers (and `@testcontainers/kafka` is installed); the project's local broker
 * (infra/kafka-local/kafka.sh, started by scripts/test-all.sh) if it answers on 127.0.0.1:9092;
 * otherwise a skip with the reason.
 *
 * Every call returns a fresh topic prefix, so test files (and tests) running in parallel against
 * one broker never share topics or consumer groups.
 */
import kafkajs from 'kafkajs';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { sampleProcess } from './cpu.ts';
import { dockerStatus, loadOptionalModule, type StartedContainer } from './docker.ts';
import type { Skip } from './skip.ts';

export const LOCAL_KAFKA = '127.0.0.1:9092';

export type KafkaSource = 'KAFKA_BROKERS' | 'testcontainers' | 'local-broker';

export interface TestKafka {
  brokers: string[];
  /** Where the brokers came from. */
  source: KafkaSource;
  /** This call's unique prefix, e.g. `tk-1a2b3c4d.`; prepended by topicPrefix(). */
  prefix: string;
  /** `tradecore.events` -> `tk-1a2b3c4d.tradecore.events`. Use it for group ids and transactional ids too. */
  topicPrefix(name: string): string;
  /** Deletes every topic created under this prefix (best effort; call it in afterAll). */
  deleteTopics(): Promise<void>;
}

const TOPIC_NAME = /^[a-zA-Z0-9._-]+$/;

/**
 * Sends an ApiVersions v0 request and checks the answer parses as one: "something that speaks
 * Kafka answers here", without a client library's retries and logs.
 */
export function kafkaAnswers(hostPort: string, timeoutMs = 2_000): Promise<boolean> {
  const [host, portText] = hostPort.split(':');
  const port = Number(portText);
  if (!host || !Number.isInteger(port)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const clientId = Buffer.from('tradecore-testkit');
    const body = Buffer.alloc(10 + clientId.length);
    body.writeInt16BE(18, 0); // ApiVersions
    body.writeInt16BE(0, 2); // v0
    body.writeInt32BE(0x7ec0, 4); // correlation id
    body.writeInt16BE(clientId.length, 8);
    clientId.copy(body, 10);
    const size = Buffer.alloc(4);
    size.writeInt32BE(body.length);
    let received = Buffer.alloc(0);
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write(Buffer.concat([size, body])));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 10) return;
      const length = received.readInt32BE(0);
      if (received.length < 4 + length) return;
      done(received.readInt32BE(4) === 0x7ec0 && received.readInt16BE(8) === 0);
    });
  });
}

interface KafkaContainerModule {
  KafkaContainer: new (image?: string) => { withKraft?(): unknown; start(): Promise<StartedContainer> };
}

let containerBrokers: Promise<string[] | Skip> | undefined;

async function startKafkaContainer(): Promise<string[] | Skip> {
  const mod = await loadOptionalModule<KafkaContainerModule>('@testcontainers/kafka');
  if (!mod) return { skip: 'a Docker engine answers but @testcontainers/kafka is not installed' };
  const builder = new mod.KafkaContainer(process.env.TESTKIT_KAFKA_IMAGE ?? 'confluentinc/cp-kafka:7.9.0');
  builder.withKraft?.();
  const container = await builder.start();
  // testcontainers' reaper (Ryuk) removes the container when this process ends.
  return [`${container.getHost()}:${container.getMappedPort(9093)}`];
}

async function resolveBrokers(): Promise<{ brokers: string[]; source: KafkaSource } | Skip> {
  const fromEnv = process.env.KAFKA_BROKERS?.split(',').map((b) => b.trim()).filter(Boolean);
  if (fromEnv && fromEnv.length > 0) return { brokers: fromEnv, source: 'KAFKA_BROKERS' };

  const reasons: string[] = ['KAFKA_BROKERS is not set'];
  const docker = await dockerStatus();
  if (docker.available) {
    containerBrokers ??= startKafkaContainer();
    const started = await containerBrokers;
    if (Array.isArray(started)) return { brokers: started, source: 'testcontainers' };
    reasons.push(started.skip);
  } else {
    reasons.push(docker.reason);
  }

  if (await kafkaAnswers(LOCAL_KAFKA)) return { brokers: [LOCAL_KAFKA], source: 'local-broker' };
  reasons.push(`no Kafka broker answers on ${LOCAL_KAFKA} (start one with: bash infra/kafka-local/kafka.sh start)`);
  return { skip: `no Kafka: ${reasons.join('; ')}` };
}

/** Kafka brokers and a unique topic prefix for this caller, or why there is no Kafka here. */
export async function getKafka(): Promise<TestKafka | Skip> {
  const resolved = await resolveBrokers();
  if ('skip' in resolved) return resolved;
  const { brokers, source } = resolved;
  const prefix = `tk-${randomBytes(4).toString('hex')}.`;
  return {
    brokers,
    source,
    prefix,
    topicPrefix(name: string): string {
      const topic = `${prefix}${name}`;
      if (!TOPIC_NAME.test(name) || topic.length > 249) {
        throw new Error(`not a valid Kafka topic name: ${JSON.stringify(topic)}`);
      }
      return topic;
    },
    async deleteTopics(): Promise<void> {
      const admin = new kafkajs.Kafka({ clientId: 'tradecore-testkit', brokers, logLevel: kafkajs.logLevel.NOTHING }).admin();
      await admin.connect();
      try {
        const mine = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
        if (mine.length > 0) await admin.deleteTopics({ topics: mine, timeout: 30_000 });
      } finally {
        await admin.disconnect();
      }
    },
  };
}

/**
 * The pid of the broker that infra/kafka-local/kafka.sh started in this checkout (its CPU is
 * part of a benchmark's cost), or null when none runs here (a broker elsewhere, or stopped).
 */
export function localKafkaBrokerPid(): number | null {
  try {
    const pid = Number(readFileSync(new URL('../../../infra/kafka-local/.run/kafka.pid', import.meta.url), 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 && sampleProcess(pid) !== null ? pid : null;
  } catch {
    return null;
  }
}
