/** Shapes of the /api/v1 HTTP contract (decimal strings for every amount). */

export type Side = 'buy' | 'sell';
export type OrderType = 'limit' | 'market';
export type TimeInForce = 'GTC' | 'IOC' | 'FOK';
export type MarketStatus = 'open' | 'halted';
export type OrderStatus = 'pending' | 'open' | 'partially_filled' | 'filled' | 'cancelled' | 'rejected' | 'expired';
export type OrderListStatus = 'open' | 'all' | 'filled' | 'cancelled' | 'rejected';
export type CandleInterval = '1m' | '5m' | '1h' | '1d';

export interface User {
  userId: number;
  username: string;
  roles: string[];
}

export interface LoginResponse {
  token: string;
  tokenType: 'Bearer';
  expiresAt: string;
  user: User;
}

export interface RegisterResponse {
  userId: number;
  username: string;
}

export interface Market {
  marketId: number;
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
  tickSize: string;
  lotSize: string;
  currentPrice: string | null;
  status: MarketStatus;
  /** Optional extras a server may add; the UI uses them when present. */
  makerFeeBps?: number;
  takerFeeBps?: number;
  maxOrderNotional?: string;
  maxOrderQuantity?: string;
}

export interface BookLevel {
  price: string;
  quantity: string;
}

export interface OrderBook {
  marketId: number;
  bids: BookLevel[];
  asks: BookLevel[];
}

export interface PublicTrade {
  tradeId: string;
  price: string;
  quantity: string;
  takerSide: Side;
  tradeTime: string;
  marketId?: number;
}

export interface Candle {
  time: string | number;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/**
 * The outcome of the order's latest amend request (a `PATCH` is answered 202 before risk and the
 * book decide): pending, applied, or rejected with the reason; `price`/`quantity` the terms asked for.
 */
export interface OrderAmend {
  requestId: string;
  status: 'pending' | 'applied' | 'rejected';
  rejectReason: string | null;
  price: string | null;
  quantity: string | null;
}

export interface Order {
  orderId: string;
  clientOrderId: string | null;
  marketId: number;
  side: Side;
  type: OrderType;
  timeInForce: TimeInForce;
  price: string | null;
  quantity: string;
  filledQuantity: string;
  averageFillPrice: string | null;
  status: OrderStatus;
  rejectReason: string | null;
  /** null: never amended; absent on the pending order the UI records itself when one is placed. */
  amend?: OrderAmend | null;
  createdAt: string;
  updatedAt: string;
  postOnly?: boolean;
}

export interface Balance {
  asset: string;
  available: string;
  reserved: string;
}

export interface Position {
  marketId: number;
  symbol: string;
  quantity: string;
  averagePrice: string | null;
  realizedPnl: string;
  unrealizedPnl: string | null;
  marketPrice: string | null;
}

export interface Portfolio {
  userId: number;
  balances: Balance[];
  positions: Position[];
}

export interface Fill {
  tradeId: string;
  orderId: string;
  marketId: number;
  side: Side;
  price: string;
  quantity: string;
  fee: string;
  liquidity: 'maker' | 'taker';
  tradeTime: string;
}

export interface PlaceOrderRequest {
  marketId: number;
  side: Side;
  type: OrderType;
  quantity: string;
  price?: string;
  timeInForce?: TimeInForce;
  postOnly?: boolean;
  clientOrderId?: string;
}

export interface PlaceOrderResponse {
  orderId: string;
  clientOrderId: string | null;
  status: 'pending';
  position: string | number;
}

export interface AcceptedResponse {
  orderId?: string;
  position?: string | number;
}

export interface ListMarketRequest {
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
  tickSize: string;
  lotSize: string;
  referencePrice?: string;
}

export interface DepositRequest {
  userId: number;
  asset: string;
  amount: string;
}

export type KillSwitchScope = 'global' | 'market' | 'user';

export interface KillSwitchRequest {
  scope: KillSwitchScope;
  marketId?: number;
  userId?: number;
  engaged: boolean;
  reason: string;
}

/** RFC 9457 problem document. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: { path: string; message: string }[];
}

export const OPEN_STATUSES: readonly OrderStatus[] = ['pending', 'open', 'partially_filled'];

export function isOpenStatus(status: OrderStatus): boolean {
  return OPEN_STATUSES.includes(status);
}
