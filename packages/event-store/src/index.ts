export * from './port.ts';
export { canonicalize } from './canonical-json.ts';
export * from './hash.ts';
export {
  createPostgresEventStore,
  type GroupCommitOptions,
  type PostgresEventStore,
  type PostgresEventStoreOptions,
  type ReadAllStreamOptions,
} from './postgres/store.ts';
export { migrateEventStore, type MigrationReport } from './postgres/migrate.ts';
export { migrations as postgresMigrations, POSITIONS_PER_TRANSACTION } from './postgres/schema.ts';
export {
  createSealer,
  listSeals,
  type PostgresLogSource,
  type Seal,
  type Sealer,
  type SealerOptions,
} from './postgres/sealer.ts';
export {
  verifyLog,
  type LogProblem,
  type LogProblemKind,
  type VerifyLogOptions,
  type VerifyReport,
} from './postgres/verify.ts';
export {
  createEventStoreDbEventStore,
  type EventStoreDbEventStore,
  type EventStoreDbEventStoreOptions,
} from './eventstoredb/store.ts';
