export * from './projector.ts';
export * from './migrations.ts';
export * from './runner.ts';
export * from './rebuild.ts';
export * from './analytics.ts';
export { normalizeDecimal } from './money.ts';
export { CANDLE_INTERVALS, INTERVAL_MS, type CandleInterval, type OrderStatus, type ProjectionErrorRow } from './fold.ts';
export { ident, type Queryable } from './sql.ts';
export { startKafkaProjections, type KafkaProjectionConsumer } from './kafka-source.ts';
