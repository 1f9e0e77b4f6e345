/**
 * The market's facts the risk handler applies to an account — a fill to settle, an order's close
 * to release, an amend's outcome — and the account decider's command for each. The live risk
 * handler and `tradectl redrive` (which re-applies a fact the handler dead-lettered) both build
 * their commands here, so that a redriven decision is the one the handler would have made.
 */
import { DEFAULT_ACCOUNT_LIMITS, toAccountCommand, type AccountCommand, type ControlState, type RoutedInput, type TradecoreEvent } from '@tradecore/core-domain';
import type { RecordedEvent } from '@tradecore/event-store';

export const MARKET_FACT_TYPES = ['TradeExecuted', 'OrderCancelled', 'OrderExpired', 'OrderRejectedByEngine', 'OrderAmended', 'OrderAmendRejectedByEngine'] as const;
export type MarketFactType = (typeof MARKET_FACT_TYPES)[number];
const MARKET_FACTS = new Set<string>(MARKET_FACT_TYPES);

export function isMarketFact(type: string): type is MarketFactType {
  return MARKET_FACTS.has(type);
}

/** Where an input sits in the log and when it happened: what every account command carries. */
export function inputOf(r: RecordedEvent): { inputPosition: bigint; inputAt: string } {
  return { inputPosition: r.globalPosition, inputAt: typeof r.metadata.occurredAt === 'string' ? r.metadata.occurredAt : r.recordedAt };
}

/** The accounts a market fact concerns: a trade's taker and maker (once for a self-trade), else the order's owner. */
export function accountsOfMarketFact(ev: TradecoreEvent & { type: MarketFactType }): number[] {
  if (ev.type === 'TradeExecuted') return ev.data.takerUserId === ev.data.makerUserId ? [ev.data.takerUserId] : [ev.data.takerUserId, ev.data.makerUserId];
  return [ev.data.userId];
}

/** A recorded account-inbox input as core-domain's routing takes it. */
export function routedInput(r: RecordedEvent, event: TradecoreEvent): RoutedInput {
  return { event, globalPosition: r.globalPosition, inputAt: inputOf(r).inputAt };
}

/**
 * The account decider's command for market fact `ev` (recorded as `r`) on account `userId`, or
 * null when `ev` is not a market fact or does not concern `userId` (core-domain's routing,
 * `toAccountCommand`, as the risk handler builds it). `control` is the control view as of just
 * before the input.
 */
export function marketFactCommand(userId: number, r: RecordedEvent, ev: TradecoreEvent, control: ControlState): AccountCommand | null {
  if (!isMarketFact(ev.type)) return null;
  // Market facts ask for no last price and no limits (those are a new order's and an amend's).
  return toAccountCommand(routedInput(r, ev), { userId, control, lastPrice: () => null, limits: DEFAULT_ACCOUNT_LIMITS });
}
