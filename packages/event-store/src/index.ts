export * from './port.ts';
export { canonicalize } from './canonical-json.ts';
export * from './hash.ts';
export {
  createPostgresEventStore,
  type PostgresEventStore,
  type PostgresEventStoreOptions,
  type ReadAllStreamOptions,
} from './postgres/store.ts';
export { migrateEventStore, type MigrationReport } from './postgres/migrate.ts';
export { migrations as postgresMigrations, POSITIONS_PER_TRANSACTION } from './postgres/schema.ts';
