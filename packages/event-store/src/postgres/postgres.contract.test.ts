import { createTestDatabase } from '@tradecore/testkit';
import { eventStoreContract } from '../contract.suite.ts';
import { createPostgresEventStore } from './store.ts';

eventStoreContract('postgres', async () => {
  const db = await createTestDatabase('es_contract');
  const store = createPostgresEventStore({ connectionString: db.url, poolSize: 20 });
  await store.ready();
  return {
    store,
    async dispose() {
      await store.close();
      await db.drop();
    },
  };
});
