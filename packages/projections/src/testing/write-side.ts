/**
 * The real write side in memory, for tests that need the events the risk and execution handlers
 * actually decide (not the simulator's reading of the catalogue): command-api's requests are
 * recorded as given, and `drain()` hands every event after the cursor, in global order, to core-
 * domain's account decider (one per user, as the risk handler does) and market decider (as the
 * execution handler does), routed by the engine's own `routeEvent`. Requests recorded before one
 * `drain()` are all in the log before any decision on them, which is how the tests get the
 * interleavings of a busy system (a fill between an amend's acceptance and the book's answer, ...).
 * One market (id 1); decisions carry the handlers' metadata, so each stream rebuilds as it would.
 */
import {
  DEFAULT_ACCOUNT_LIMITS,
  accountDecisionMeta,
  catalogueEvent,
  createMarketDecider,
  createOrderBook,
  decideAccount,
  evolveAccount,
  evolveControl,
  initialAccountState,
  initialControlState,
  marketDecisionMeta,
  toAccountCommand,
  toMarketCommand,
  type AccountState,
  type ControlState,
  type DecisionMetaOut,
  type EventData,
  type MarketState,
  type TradecoreEvent,
} from '@tradecore/core-domain';
import { routeEvent } from '@tradecore/engine';
import type { RecordedEvent } from '@tradecore/event-store';

export const WRITE_SIDE_MARKET: EventData<'MarketListed'> = {
  marketId: 1,
  symbol: 'BTC-USD',
  baseAsset: 'BTC',
  quoteAsset: 'USD',
  tickSize: '0.01',
  lotSize: '0.001',
  referencePrice: '100',
  makerFeeBps: 10,
  takerFeeBps: 20,
  maxOrderQuantity: '100',
  maxOrderNotional: '1000000',
  priceBandBps: 1000,
  listedBy: 1,
};

const AT = '2030-01-01T00:00:00.000Z';

export interface PlaceOptions {
  side: 'buy' | 'sell';
  price: string;
  quantity: string;
  timeInForce?: 'GTC' | 'IOC' | 'FOK';
  postOnly?: boolean;
}

export class WriteSide {
  readonly log: RecordedEvent[] = [];
  private control: ControlState = initialControlState();
  private readonly market = createMarketDecider({ createBook: () => createOrderBook('fast') });
  private mstate: MarketState = this.market.initialState();
  private readonly accounts = new Map<number, AccountState>();
  private cursor = 0;
  private seq = 0;

  constructor(users: readonly number[], deposits: readonly [asset: string, amount: string][] = [['USD', '10000'], ['BTC', '100']]) {
    this.record('markets', [catalogueEvent('MarketListed', WRITE_SIDE_MARKET)]);
    for (const u of users) for (const [asset, amount] of deposits) this.record(`account-${u}`, [catalogueEvent('FundsDeposited', { depositId: `d-${u}-${asset}`, userId: u, asset, amount, depositedBy: 1 })]);
    this.drain();
  }

  /** Appends events to a stream (as their writer would) and evolves the state that stream feeds. */
  record(stream: string, events: readonly TradecoreEvent[], meta: DecisionMetaOut | Record<string, never> = {}): void {
    for (const e of events) {
      const position = this.log.length + 1;
      // A copy, as a recorded event is: nothing decided later shares objects with it.
      const data = JSON.parse(JSON.stringify(e.data)) as TradecoreEvent['data'];
      const stored = { type: e.type, data } as TradecoreEvent;
      this.log.push({
        eventId: `00000000-0000-4000-8000-${String(position).padStart(12, '0')}`,
        stream,
        type: e.type,
        data,
        metadata: { correlationId: 'c', causationId: null, userId: null, occurredAt: AT, schemaVersion: 1, ...meta },
        streamRevision: 0n,
        globalPosition: BigInt(position),
        recordedAt: AT,
      });
      if (stream.startsWith('account-')) {
        const u = Number(stream.slice('account-'.length));
        this.accounts.set(u, evolveAccount(this.accounts.get(u) ?? initialAccountState(), stored, meta));
      } else if (stream.startsWith('market-')) this.mstate = this.market.evolve(this.mstate, stored, meta);
      else if (stream === 'markets' || stream === 'control') {
        this.control = evolveControl(this.control, stored);
        if (stored.type === 'MarketListed') this.mstate = this.market.evolve(this.mstate, stored);
      }
    }
  }

  /** Decides every event after the cursor, in global order, including the decisions' own consequences. */
  drain(): void {
    for (; this.cursor < this.log.length; this.cursor++) {
      const rec = this.log[this.cursor]!;
      const event = { type: rec.type, data: rec.data } as TradecoreEvent;
      for (const route of routeEvent(rec)) {
        if (route.topic === 'account-inbox') {
          const userId = Number(route.key);
          const cmd = toAccountCommand(
            { event, globalPosition: rec.globalPosition, inputAt: typeof rec.metadata.occurredAt === 'string' ? rec.metadata.occurredAt : rec.recordedAt },
            { userId, control: this.control, lastPrice: () => this.mstate.lastTradePrice, limits: DEFAULT_ACCOUNT_LIMITS },
          );
          if (cmd) this.record(`account-${userId}`, decideAccount(cmd, this.accounts.get(userId) ?? initialAccountState()), accountDecisionMeta(cmd));
        } else if (route.topic === 'market-inbox' && (route.key === '1' || route.partition === 0)) {
          // A broadcast (global or user kill switch) reaches every partition: this one market takes it once.
          const cmd = toMarketCommand({ event, globalPosition: rec.globalPosition, recordedAt: rec.recordedAt, ids: (n) => Array.from({ length: n }, (_, i) => `t${rec.globalPosition}-${i}`) }, this.control);
          if (cmd) this.record('market-1', this.market.decide(cmd, this.mstate), marketDecisionMeta(cmd));
        }
      }
    }
  }

  place(userId: number, o: PlaceOptions): string {
    const orderId = `o${++this.seq}`;
    this.record(`order-${orderId}`, [
      catalogueEvent('OrderPlaced', {
        orderId,
        userId,
        marketId: 1,
        side: o.side,
        type: 'limit',
        timeInForce: o.timeInForce ?? 'GTC',
        price: o.price,
        quantity: o.quantity,
        postOnly: o.postOnly ?? false,
        selfTradePrevention: 'cancel_newest',
        clientOrderId: null,
        requestHash: 'h',
        placedAt: AT,
      }),
    ]);
    return orderId;
  }

  amend(userId: number, orderId: string, newPrice: string | null, newQuantity: string | null): string {
    const requestId = `a${++this.seq}`;
    this.record(`order-${orderId}`, [catalogueEvent('OrderAmendRequested', { orderId, userId, marketId: 1, requestId, newPrice, newQuantity, requestedAt: AT })]);
    return requestId;
  }

  cancel(userId: number, orderId: string): void {
    this.record(`order-${orderId}`, [catalogueEvent('OrderCancelRequested', { orderId, userId, marketId: 1, requestId: `c${++this.seq}`, requestedAt: AT })]);
  }

  engageKillSwitch(scope: 'global' | 'user', userId: number | null): void {
    this.record('control', [catalogueEvent('KillSwitchEngaged', { scope, marketId: null, userId, reason: 'test', changedBy: 1 })]);
  }

  halt(): void {
    this.record('markets', [catalogueEvent('MarketHalted', { marketId: 1, reason: 'test', haltedBy: 1 })]);
  }

  /**
   * The execution handler's ExpireOrder, decided now on the market as it stands (before the events
   * still waiting for `drain()`: call it when none of them is a market input).
   */
  expire(orderId: string): void {
    const position = BigInt(this.log.length);
    const cmd = { kind: 'ExpireOrder' as const, orderId, inputPosition: position, now: AT, ids: () => [] };
    this.record('market-1', this.market.decide(cmd, this.mstate), marketDecisionMeta(cmd));
  }

  /** Event types of an order, in log order (what the handlers decided), leaving out the money's (FillSettled, ReservationReleased). */
  typesOf(orderId: string): string[] {
    return this.log.filter((r) => r.type !== 'FillSettled' && r.type !== 'ReservationReleased').filter((r) => (r.data as { orderId?: unknown }).orderId === orderId || (r.type === 'TradeExecuted' && [(r.data as EventData<'TradeExecuted'>).takerOrderId, (r.data as EventData<'TradeExecuted'>).makerOrderId].includes(orderId))).map((r) => r.type);
  }
}
