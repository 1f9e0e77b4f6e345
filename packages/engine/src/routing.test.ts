import { describe, expect, it } from 'vitest';
import { MARKET_INBOX_PARTITIONS, accountPartition, marketPartition, routeEvent, topicName } from './routing.ts';

const ev = (stream: string, type: string, data: unknown) => ({ stream, type, data });

describe('routeEvent', () => {
  it('sends every event to the events topic keyed by stream, first', () => {
    const routes = routeEvent(ev('users', 'UserRegistered', { userId: 1 }));
    expect(routes).toEqual([{ topic: 'events', key: 'users', partition: 0 }]);
  });

  it('routes order requests to the account inbox keyed by userId', () => {
    for (const type of ['OrderPlaced', 'OrderAmendRequested', 'OrderCancelled', 'OrderExpired', 'OrderRejectedByEngine', 'OrderAmended', 'OrderAmendRejectedByEngine', 'FundsDeposited']) {
      const routes = routeEvent(ev('x', type, { userId: 10, marketId: 3 }));
      expect(routes.slice(1)).toEqual([{ topic: 'account-inbox', key: '10', partition: accountPartition(10) }]);
    }
  });

  it('routes a cancel request to risk only: the book cancels on risk\'s acceptance, recorded after the order\'s', () => {
    const routes = routeEvent(ev('order-1', 'OrderCancelRequested', { userId: 2, marketId: 5 }));
    expect(routes.slice(1)).toEqual([{ topic: 'account-inbox', key: '2', partition: accountPartition(2) }]);
  });

  it('routes risk decisions and halts to the market inbox keyed by marketId', () => {
    for (const type of ['OrderAccepted', 'OrderAmendAccepted', 'OrderCancelAccepted', 'MarketHalted']) {
      expect(routeEvent(ev('x', type, { userId: 4, marketId: 9 })).slice(1)).toEqual([
        { topic: 'market-inbox', key: '9', partition: marketPartition(9) },
      ]);
    }
  });

  it('routes a trade to the account inbox once per party', () => {
    const routes = routeEvent(ev('market-1', 'TradeExecuted', { takerUserId: 1, makerUserId: 2, marketId: 1 }));
    expect(routes.slice(1)).toEqual([
      { topic: 'account-inbox', key: '1', partition: accountPartition(1) },
      { topic: 'account-inbox', key: '2', partition: accountPartition(2) },
    ]);
    const self = routeEvent(ev('market-1', 'TradeExecuted', { takerUserId: 3, makerUserId: 3, marketId: 1 }));
    expect(self.slice(1)).toEqual([{ topic: 'account-inbox', key: '3', partition: accountPartition(3) }]);
  });

  it('routes kill switches: market scope to its market, global and all-market user scope to every partition', () => {
    expect(routeEvent(ev('control', 'KillSwitchEngaged', { scope: 'market', marketId: 2, userId: null })).slice(1)).toEqual([
      { topic: 'market-inbox', key: '2', partition: marketPartition(2) },
    ]);
    expect(routeEvent(ev('control', 'KillSwitchEngaged', { scope: 'user', marketId: 4, userId: 1 })).slice(1)).toEqual([
      { topic: 'market-inbox', key: '4', partition: marketPartition(4) },
    ]);
    for (const data of [{ scope: 'global', marketId: null, userId: null }, { scope: 'user', marketId: null, userId: 7 }]) {
      const routes = routeEvent(ev('control', 'KillSwitchEngaged', data)).slice(1);
      expect(routes).toHaveLength(MARKET_INBOX_PARTITIONS);
      expect(routes.map((r) => r.partition)).toEqual([...Array(MARKET_INBOX_PARTITIONS).keys()]);
      expect(new Set(routes.map((r) => r.key))).toEqual(new Set(['control']));
    }
    expect(routeEvent(ev('control', 'KillSwitchReleased', { scope: 'global', marketId: null, userId: null })).slice(1)).toEqual([]);
  });

  it('does not route decisions that nobody consumes', () => {
    for (const type of ['OrderRejected', 'FillSettled', 'ReservationReleased', 'OrderRested', 'MarketListed', 'MarketResumed'])
      expect(routeEvent(ev('s', type, { userId: 1, marketId: 1 }))).toHaveLength(1);
  });

  it('dead-letters an inbox event without its key fields', () => {
    expect(routeEvent(ev('order-9', 'OrderPlaced', { userId: 'x' })).slice(1)).toEqual([{ topic: 'dead-letter', key: 'order-9', partition: 0 }]);
    expect(routeEvent(ev('market-1', 'TradeExecuted', null)).slice(1)).toEqual([{ topic: 'dead-letter', key: 'market-1', partition: 0 }]);
  });

  it('spreads sequential ids over partitions and prefixes topic names', () => {
    expect([1, 2, 8, 9].map(accountPartition)).toEqual([0, 1, 7, 0]);
    expect(topicName('t1.', 'account-inbox')).toBe('t1.tradecore.account-inbox');
  });
});
