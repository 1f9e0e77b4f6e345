import { createTestDatabase } from '@tradecore/testkit';
import { eventStoreContract } from '../contract.suite.ts';
import { createPostgresEventStore } from './store.ts';

// Group commit is the default; the contract holds with it and with every append on its own.
for (const groupCommit of [true, false]) {
  eventStoreContract(groupCommit ? 'postgres' : 'postgres (no group commit)', async () => {
    const db = await createTestDatabase('es_contract');
    const store = createPostgresEventStore({ connectionString: db.url, poolSize: 20, groupCommit });
    await store.ready();
    return {
      store,
      async dispose() {
        await store.close();
        await db.drop();
      },
    };
  });
}
