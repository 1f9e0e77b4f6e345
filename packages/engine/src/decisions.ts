/**
 * `@tradecore/engine/decisions`: how the handlers name and describe what they decide (derived ids,
 * decision metadata) and the risk handler's commands for the market's facts — without the Kafka,
 * PostgreSQL and HTTP plumbing the package's main entry loads. For tools that must write exactly
 * what a handler would have (`tradectl redrive`).
 */
export { TRADECORE_ENGINE_NAMESPACE, uuidV5, derivedEventId, derivedId, decisionMetadata, type Clock } from './ids.ts';
export { MARKET_FACT_TYPES, isMarketFact, inputOf, accountsOfMarketFact, marketFactCommand, type MarketFactType } from './market-facts.ts';
