import { createTestDatabase } from '@tradecore/testkit';
import { eventStoreContract } from '../contract.suite.ts';
import { createPostgresEventStore } from './store.ts';

/** How long teardown waits for store.close() before it reports the hang and drops the database anyway. */
const CLOSE_BOUND_MS = 30_000;

// Group commit is the default; the contract holds with it and with every append on its own.
for (const groupCommit of [true, false]) {
  eventStoreContract(groupCommit ? 'postgres' : 'postgres (no group commit)', async () => {
    const db = await createTestDatabase('es_contract');
    const store = createPostgresEventStore({ connectionString: db.url, poolSize: 20, groupCommit });
    await store.ready();
    return {
      store,
      async dispose() {
        // close() has hung in this teardown a few times on a loaded machine (cause not found yet:
        // see docs/event-store.md, known issues). Bounded, the hang is printed with the pool's state
        // instead of failing the whole run on a hook timeout; the forced drop then ends the clients.
        let timer: NodeJS.Timeout | undefined;
        const closed = await Promise.race([
          store.close().then(() => true),
          new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), CLOSE_BOUND_MS))),
        ]);
        clearTimeout(timer);
        if (!closed)
          console.warn(
            `[event-store contract] store.close() did not finish within ${CLOSE_BOUND_MS} ms (${store.describeClose()}); dropping the database anyway`,
          );
        await db.drop();
      },
    };
  });
}
