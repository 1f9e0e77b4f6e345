/**
 * The routing table of docs/architecture.md as one pure function: which topics (and keys and
 * partitions) a recorded event goes to. The relay uses it to publish to Kafka; the in-process
 * host uses the very same function to feed the handlers in single-node mode.
 *
 * Inbox partitions are chosen explicitly from the key ((id - 1) mod partitions) rather than by
 * the client's hash, so that the execution handler can tell which markets a partition carries
 * (ownership of a market = ownership of its partition) and sequential ids spread evenly.
 * Events that address every market (a global kill switch, a user's all-market kill switch) go to every partition of
 * the market inbox, so each owner applies them to the markets it owns, in order.
 */
import type { RecordedEvent } from '@tradecore/event-store';

export type LogicalTopic = 'events' | 'account-inbox' | 'market-inbox' | 'dead-letter';

export interface TopicSpec {
  logical: LogicalTopic;
  /** Name without the deployment prefix. */
  name: string;
  partitions: number;
  /** Broker-side topic configs, set at creation. */
  configs: Record<string, string>;
}

export const TOPIC_SPECS: Readonly<Record<LogicalTopic, TopicSpec>> = {
  events: {
    logical: 'events',
    name: 'tradecore.events',
    partitions: 1,
    // The log of record is the event store; Kafka keeps a week for projections to catch up.
    configs: { 'cleanup.policy': 'delete', 'retention.ms': String(7 * 24 * 3600 * 1000), 'min.insync.replicas': '1', 'max.message.bytes': String(4 * 1024 * 1024) },
  },
  'account-inbox': {
    logical: 'account-inbox',
    name: 'tradecore.account-inbox',
    partitions: 8,
    configs: { 'cleanup.policy': 'delete', 'retention.ms': String(7 * 24 * 3600 * 1000), 'min.insync.replicas': '1' },
  },
  'market-inbox': {
    logical: 'market-inbox',
    name: 'tradecore.market-inbox',
    partitions: 8,
    configs: { 'cleanup.policy': 'delete', 'retention.ms': String(7 * 24 * 3600 * 1000), 'min.insync.replicas': '1' },
  },
  'dead-letter': {
    logical: 'dead-letter',
    name: 'tradecore.dead-letter',
    partitions: 1,
    // Operators decide what to do with poison events: keep them.
    configs: { 'cleanup.policy': 'delete', 'retention.ms': '-1', 'min.insync.replicas': '1' },
  },
};

export const ACCOUNT_INBOX_PARTITIONS = TOPIC_SPECS['account-inbox'].partitions;
export const MARKET_INBOX_PARTITIONS = TOPIC_SPECS['market-inbox'].partitions;

/** Full topic name for a deployment prefix (tests use testkit's per-test prefix). */
export function topicName(prefix: string, logical: LogicalTopic): string {
  return `${prefix}${TOPIC_SPECS[logical].name}`;
}

export interface Route {
  topic: LogicalTopic;
  key: string;
  partition: number;
}

/** Inbox partition of a user or market id. */
export function partitionForId(id: number, partitions: number): number {
  return (((id - 1) % partitions) + partitions) % partitions;
}
export function accountPartition(userId: number): number {
  return partitionForId(userId, ACCOUNT_INBOX_PARTITIONS);
}
export function marketPartition(marketId: number): number {
  return partitionForId(marketId, MARKET_INBOX_PARTITIONS);
}

const ACCOUNT_INBOX_TYPES = new Set([
  'OrderPlaced',
  'OrderAmendRequested',
  'OrderCancelRequested',
  'OrderCancelled',
  'OrderExpired',
  'OrderRejectedByEngine',
  'OrderAmended',
  // The book's refusal of an amend risk accepted: risk releases what the amend had added.
  'OrderAmendRejectedByEngine',
  'FundsDeposited',
]);

/** Whether the relay routes events of `type` to the account inbox (trades to both parties, the rest to their user). */
export function isAccountInboxType(type: string): boolean {
  return type === 'TradeExecuted' || ACCOUNT_INBOX_TYPES.has(type);
}

// Cancels reach the book as risk's OrderCancelAccepted (after the order's OrderAccepted in the log),
// never as the request: a request can be recorded before the acceptance and would overtake it.
const MARKET_INBOX_TYPES = new Set(['OrderAccepted', 'OrderAmendAccepted', 'OrderCancelAccepted', 'MarketHalted']);

/** Key used for market-inbox messages that address every market (global/user kill switch). */
export const BROADCAST_KEY = 'control';

function positiveInt(data: unknown, field: string): number | null {
  if (typeof data !== 'object' || data === null) return null;
  const v = (data as Record<string, unknown>)[field];
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : null;
}

function account(userId: number): Route {
  return { topic: 'account-inbox', key: String(userId), partition: accountPartition(userId) };
}
function market(marketId: number): Route {
  return { topic: 'market-inbox', key: String(marketId), partition: marketPartition(marketId) };
}

/**
 * Every `data` field routeEvent reads: routing an event by these fields alone (the rest of its data
 * left out) gives the same routes, which lets the relay route raw events without parsing their data
 * (relay-raw.test.ts checks it for every routing case).
 */
export const ROUTING_FIELDS = ['userId', 'marketId', 'takerUserId', 'makerUserId', 'scope'] as const;

/**
 * Every route of a recorded event. The first route is always `events` (every event, keyed by
 * stream, in global order). Routing reads only the key fields; it does not validate the schema
 * (the handlers do, and dead-letter what fails). An inbox event whose key fields are missing can
 * reach no handler: it goes to the dead-letter topic, keyed by its stream.
 */
export function routeEvent(recorded: Pick<RecordedEvent, 'type' | 'data' | 'stream'>): Route[] {
  const routes: Route[] = [{ topic: 'events', key: recorded.stream, partition: 0 }];
  const { type, data } = recorded;
  const poison = (): Route[] => [...routes, { topic: 'dead-letter', key: recorded.stream, partition: 0 }];

  if (type === 'TradeExecuted') {
    const taker = positiveInt(data, 'takerUserId');
    const maker = positiveInt(data, 'makerUserId');
    if (taker === null || maker === null) return poison();
    routes.push(account(taker));
    // Once per party: a self-trade (where self-trade prevention allowed it) is one message.
    if (maker !== taker) routes.push(account(maker));
    return routes;
  }
  if (type === 'KillSwitchEngaged') {
    const scope = (data as { scope?: unknown } | null)?.scope;
    const marketId = positiveInt(data, 'marketId');
    if (scope === 'market') {
      if (marketId === null) return poison();
      routes.push(market(marketId));
      return routes;
    }
    if (scope !== 'global' && scope !== 'user') return poison();
    if (scope === 'user' && marketId !== null) {
      routes.push(market(marketId));
      return routes;
    }
    for (let p = 0; p < MARKET_INBOX_PARTITIONS; p++) routes.push({ topic: 'market-inbox', key: BROADCAST_KEY, partition: p });
    return routes;
  }
  const toAccount = ACCOUNT_INBOX_TYPES.has(type);
  const toMarket = MARKET_INBOX_TYPES.has(type);
  if (!toAccount && !toMarket) return routes;
  const userId = toAccount ? positiveInt(data, 'userId') : null;
  const marketId = toMarket ? positiveInt(data, 'marketId') : null;
  if ((toAccount && userId === null) || (toMarket && marketId === null)) return poison();
  if (userId !== null) routes.push(account(userId));
  if (marketId !== null) routes.push(market(marketId));
  return routes;
}
