/**
 * EventStoreDB for tests: EVENTSTORE_URL if set (e.g. `esdb://127.0.0.1:2113?tls=false`); else a
 * container (image eventstore/eventstore) through testcontainers where a Docker engine answers;
 * otherwise a skip with the reason. One container per test process; callers isolate themselves by
 * stream names (there is no per-test database in EventStoreDB).
 */
import { dockerStatus, loadTestcontainers } from './docker.ts';
import type { Skip } from './skip.ts';

export interface TestEventStoreDb {
  /** Connection string for @eventstore/db-client, e.g. `esdb://host:port?tls=false`. */
  url: string;
  source: 'EVENTSTORE_URL' | 'testcontainers';
}

export const EVENTSTORE_IMAGE = process.env.TESTKIT_EVENTSTORE_IMAGE ?? 'eventstore/eventstore:24.10';

let container: Promise<TestEventStoreDb | Skip> | undefined;

async function startContainer(): Promise<TestEventStoreDb | Skip> {
  const tc = await loadTestcontainers();
  if (!tc) return { skip: 'a Docker engine answers but the testcontainers package is not installed (see packages/testkit/README.md)' };
  const started = await new tc.GenericContainer(EVENTSTORE_IMAGE)
    .withEnvironment({
      EVENTSTORE_INSECURE: 'true',
      EVENTSTORE_MEM_DB: 'true',
      EVENTSTORE_RUN_PROJECTIONS: 'All',
      EVENTSTORE_START_STANDARD_PROJECTIONS: 'true',
      EVENTSTORE_CLUSTER_SIZE: '1',
    })
    .withExposedPorts(2113)
    .withWaitStrategy(tc.Wait.forHttp('/health/live', 2113).forStatusCode(204))
    .withStartupTimeout(180_000)
    .start();
  // testcontainers' reaper (Ryuk) removes the container when this process ends.
  return { url: `esdb://${started.getHost()}:${started.getMappedPort(2113)}?tls=false`, source: 'testcontainers' };
}

/** An EventStoreDB to test against, or why there is none here. */
export async function getEventStoreDb(): Promise<TestEventStoreDb | Skip> {
  const fromEnv = process.env.EVENTSTORE_URL?.trim();
  if (fromEnv) return { url: fromEnv, source: 'EVENTSTORE_URL' };
  const docker = await dockerStatus();
  if (!docker.available) {
    return { skip: `no EventStoreDB: EVENTSTORE_URL is not set and ${docker.reason}, so no ${EVENTSTORE_IMAGE} container` };
  }
  container ??= startContainer();
  return container;
}

/** The HTTP base URL (http://host:port) of an esdb:// connection string, for health checks. */
export function eventStoreHttpUrl(url: string): string {
  const match = /^esdb(?:\+discover)?:\/\/(?:[^@/?]*@)?([^/?]+)[^?]*(?:\?(.*))?$/.exec(url);
  if (!match?.[1]) throw new Error(`not an esdb:// connection string: ${url}`);
  const host = match[1].split(',')[0] ?? match[1];
  const tls = new URLSearchParams(match[2] ?? '').get('tls');
  return `${tls === 'false' ? 'http' : 'https'}://${host}`;
}
