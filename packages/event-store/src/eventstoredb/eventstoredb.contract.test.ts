/**
 * The contract against a real EventStoreDB: runs where one is reachable (testkit's
 * getEventStoreDb(), or EVENTSTORE_URL), otherwise skips with the reason printed. Never faked.
 */
import * as testkit from '@tradecore/testkit';
import { eventStoreContract } from '../contract.suite.ts';
import { createEventStoreDbEventStore } from './store.ts';

type Resolution = { url: string } | { skip: string };

async function resolveEventStoreDb(): Promise<Resolution> {
  const kit = testkit as unknown as { getEventStoreDb?: () => Promise<Resolution> | Resolution };
  if (typeof kit.getEventStoreDb === 'function') return kit.getEventStoreDb();
  const url = process.env.EVENTSTORE_URL;
  if (url) return { url };
  return { skip: 'no EventStoreDB: set EVENTSTORE_URL (e.g. esdb://127.0.0.1:2113?tls=false) to run this suite' };
}

const esdb = await resolveEventStoreDb();

eventStoreContract(
  'eventstoredb',
  () => {
    if (!('url' in esdb)) throw new Error('unreachable: suite is skipped without a server');
    const store = createEventStoreDbEventStore({ connectionString: esdb.url });
    return Promise.resolve({ store, dispose: () => store.close() });
  },
  'skip' in esdb ? { skip: esdb.skip } : {},
);
