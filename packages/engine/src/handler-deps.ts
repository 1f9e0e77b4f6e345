import type { AccountDecider, AccountLimits, MarketDecider } from '@tradecore/core-domain';
import type { EventStore } from '@tradecore/event-store';
import type { DeadLetterSink } from './dead-letter.ts';
import type { Clock } from './ids.ts';
import type { SnapshotStore } from './snapshots.ts';
import type { EngineMetrics, Logger } from './observability.ts';
import type { RunnerOptions } from './stream-runner.ts';

export type HandlerName = 'risk' | 'execution';

export interface HandlerTuning {
  /** Streams (accounts, markets) decided concurrently within one partition batch. Default 32. */
  streamConcurrency?: number;
  /** Account limits for the risk rules. Default core-domain's DEFAULT_ACCOUNT_LIMITS. */
  limits?: AccountLimits;
  /** Attempts before a poison input is dead-lettered. Default 3. */
  poisonAttempts?: number;
  /** Attempts of a store operation before the handler stops. Default 6. */
  storeAttempts?: number;
  /** Retry backoff for store operations. */
  storeBackoff?: { initialMs?: number; maxMs?: number };
  /** Events between order-book snapshots (with a snapshot store). Default 1000. */
  snapshotEvery?: number;
}

export interface HandlerDeps {
  store: EventStore;
  clock: Clock;
  logger: Logger;
  metrics: EngineMetrics;
  deadLetters: DeadLetterSink;
  signal: AbortSignal;
  tuning?: HandlerTuning;
  /** Execution handler: order-book snapshots (snapshot + tail rebuilds). */
  snapshots?: SnapshotStore;
  /**
   * Execution handler: the market decider. Default core-domain's over the fast book; tests inject
   * one that throws on a chosen input, to prove what a dead-lettered input leaves behind.
   */
  marketDecider?: MarketDecider;
  /**
   * Risk handler: the account decider. Default core-domain's; tests inject one whose `decide`
   * throws on a chosen input, to prove that a dead-lettered request is still answered.
   */
  accountDecider?: AccountDecider;
}

/** The stream runner's options every handler shares: its name, the injected ports and the tuning. */
export function runnerOptions(handler: HandlerName, deps: HandlerDeps, logger: Logger): RunnerOptions {
  return {
    handler,
    store: deps.store,
    clock: deps.clock,
    deadLetters: deps.deadLetters,
    metrics: deps.metrics,
    logger,
    signal: deps.signal,
    poisonAttempts: deps.tuning?.poisonAttempts,
    storeAttempts: deps.tuning?.storeAttempts,
    backoff: deps.tuning?.storeBackoff,
  };
}
