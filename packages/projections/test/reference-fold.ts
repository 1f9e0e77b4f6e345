/**
 * The test oracle: a plain, event-at-a-time, in-memory fold of a history into the read-model rows,
 * written independently of the projector's batch/delta machinery. Derived models are computed
 * from scratch at the end (L2 levels from resting orders, candles from the tape, 24 h stats from
 * candles). Output is in the canonical text form of snapshotReadModels().
 */
import { DecimalValidationError, formatAmount, parseAmount, parseEvent, parseSignedAmount, type TradecoreEvent } from '@tradecore/core-domain';
import type { RecordedEvent } from '@tradecore/event-store';
import type { CanonicalRow } from '../src/index.ts';

const S = 10n ** 12n;
const u = (s: string) => parseAmount(s);
const f = (x: bigint) => formatAmount(x);
const fn = (x: bigint | null) => (x === null ? null : formatAmount(x));
const half = (n: bigint, d: bigint) => {
  const neg = n < 0n;
  const a = neg ? -n : n;
  const q = (2n * a + d) / (2n * d);
  return neg ? -q : q;
};
const FINAL = ['filled', 'cancelled', 'rejected', 'expired'];

interface Order {
  order_id: string;
  user_id: number;
  market_id: number;
  client_order_id: string | null;
  side: string;
  type: string;
  time_in_force: string;
  post_only: boolean;
  price: bigint | null;
  quantity: bigint;
  filled: bigint;
  filledNotional: bigint;
  status: string;
  reject_reason: string | null;
  cancel_reason: string | null;
  reserved_asset: string | null;
  bookPrice: bigint | null;
  bookQty: bigint;
  amend_request_id: string | null;
  amend_status: string | null;
  amend_reject_reason: string | null;
  amendPrice: bigint | null;
  amendQty: bigint | null;
  created_at: string;
  updated_at: string;
  created_position: bigint;
  last_position: bigint;
}

export interface ReferenceResult {
  tables: Record<string, CanonicalRow[]>;
  errorPositions: { position: string; kind: string }[];
}

export function referenceFold(events: readonly RecordedEvent[]): ReferenceResult {
  const seen = new Set<bigint>();
  const log = [...events].sort((a, b) => (a.globalPosition < b.globalPosition ? -1 : 1)).filter((e) => (seen.has(e.globalPosition) ? false : (seen.add(e.globalPosition), true)));
  const users = new Map<number, CanonicalRow>();
  const markets = new Map<number, { row: CanonicalRow; last: string | null }>();
  const orders = new Map<string, Order>();
  const balances = new Map<string, { user: number; asset: string; a: bigint; r: bigint; t: string; p: bigint }>();
  const positions = new Map<string, { user: number; market: number; q: bigint; cost: bigint; pnl: bigint; t: string; p: bigint }>();
  const trades = new Map<string, CanonicalRow>();
  const tape: { trade_id: string; market_id: number; price: bigint; qty: bigint; side: string; time: string; pos: bigint }[] = [];
  const switches = new Map<string, CanonicalRow>();
  const errors: { position: string; kind: string }[] = [];
  let checkpoint = 0n;

  const bal = (user: number, asset: string, da: bigint, dr: bigint, t: string, p: bigint) => {
    const k = `${user}|${asset}`;
    const b = balances.get(k) ?? { user, asset, a: 0n, r: 0n, t, p };
    b.a += da;
    b.r += dr;
    b.t = t;
    b.p = p;
    balances.set(k, b);
  };
  const clearBook = (o: Order) => {
    o.bookPrice = null;
    o.bookQty = 0n;
  };

  for (const rec of log) {
    checkpoint = rec.globalPosition;
    let e: TradecoreEvent;
    try {
      e = parseEvent(rec.type, 1, rec.data);
    } catch {
      errors.push({ position: rec.globalPosition.toString(), kind: 'schema' });
      continue;
    }
    const pos = rec.globalPosition;
    const time = new Date(rec.metadata.occurredAt).toISOString();
    try {
      switch (e.type) {
        case 'UserRegistered':
          users.set(e.data.userId, { user_id: String(e.data.userId), username: e.data.username.startsWith('pii:v1:') ? '[personal data]' : e.data.username, roles: `{${e.data.roles.join(',')}}`, registered_at: time, last_position: pos.toString() });
          break;
        case 'UserForgotten':
          // The users row shows a placeholder for sealed usernames from the start; forgetting changes no row.
          break;
        case 'MarketListed': {
          const d = e.data;
          markets.set(d.marketId, {
            last: null,
            row: {
              market_id: String(d.marketId),
              market_name: d.symbol,
              symbol: d.symbol,
              base_asset: d.baseAsset,
              quote_asset: d.quoteAsset,
              tick_size: f(u(d.tickSize)),
              lot_size: f(u(d.lotSize)),
              reference_price: d.referencePrice === null ? null : f(u(d.referencePrice)),
              maker_fee_bps: String(d.makerFeeBps),
              taker_fee_bps: String(d.takerFeeBps),
              status: 'open',
              current_price: null,
              last_trade_time: null,
              volume_24h: '0',
              open_24h: null,
              listed_at: time,
              updated_at: time,
              last_position: pos.toString(),
            },
          });
          break;
        }
        case 'MarketHalted':
        case 'MarketResumed': {
          const m = markets.get(e.data.marketId);
          if (m) Object.assign(m.row, { status: e.type === 'MarketHalted' ? 'halted' : 'open', updated_at: time, last_position: pos.toString() });
          break;
        }
        case 'KillSwitchEngaged':
        case 'KillSwitchReleased': {
          const d = e.data;
          const key = d.scope === 'global' ? 'global' : d.scope === 'market' ? `market:${d.marketId}` : `user:${d.userId}`;
          switches.set(key, {
            switch_key: key,
            scope: d.scope,
            market_id: d.marketId === null ? null : String(d.marketId),
            user_id: d.userId === null ? null : String(d.userId),
            engaged: String(e.type === 'KillSwitchEngaged'),
            reason: d.reason,
            changed_by: String(d.changedBy),
            changed_at: time,
            last_position: pos.toString(),
          });
          break;
        }
        case 'OrderPlaced': {
          const d = e.data;
          const placed = new Date(d.placedAt).toISOString();
          orders.set(d.orderId, {
            order_id: d.orderId,
            user_id: d.userId,
            market_id: d.marketId,
            client_order_id: d.clientOrderId,
            side: d.side,
            type: d.type,
            time_in_force: d.timeInForce,
            post_only: d.postOnly,
            price: d.price === null ? null : u(d.price),
            quantity: u(d.quantity),
            filled: 0n,
            filledNotional: 0n,
            status: 'pending',
            reject_reason: null,
            cancel_reason: null,
            reserved_asset: null,
            bookPrice: null,
            bookQty: 0n,
            amend_request_id: null,
            amend_status: null,
            amend_reject_reason: null,
            amendPrice: null,
            amendQty: null,
            created_at: placed,
            updated_at: placed,
            created_position: pos,
            last_position: pos,
          });
          break;
        }
        case 'FundsDeposited': {
          const amount = u(e.data.amount);
          bal(e.data.userId, e.data.asset, amount, 0n, time, pos);
          break;
        }
        case 'OrderAccepted': {
          const amount = u(e.data.reservedAmount);
          bal(e.data.userId, e.data.reservedAsset, -amount, amount, time, pos);
          const o = orders.get(e.data.orderId);
          if (o) {
            if (o.status === 'pending') o.status = 'open';
            o.reserved_asset = e.data.reservedAsset;
            o.updated_at = time;
            o.last_position = pos;
          }
          break;
        }
        case 'OrderRejected':
        case 'OrderRejectedByEngine': {
          const o = orders.get(e.data.orderId);
          if (o) {
            if (!FINAL.includes(o.status)) {
              o.status = 'rejected';
              o.reject_reason = e.data.reason;
            }
            clearBook(o);
            o.updated_at = time;
            o.last_position = pos;
          }
          break;
        }
        case 'OrderAmendAccepted': {
          const delta = parseSignedAmount(e.data.reservationDelta);
          const o = orders.get(e.data.orderId);
          // the latest request: its terms become risk's resolved ones
          const latest = o !== undefined && o.amend_request_id === e.data.requestId;
          const [price, qty] = latest ? [u(e.data.newPrice), u(e.data.newQuantity)] : [null, null];
          bal(e.data.userId, e.data.reservedAsset, -delta, delta, time, pos);
          if (o && latest) {
            o.amendPrice = price;
            o.amendQty = qty;
            o.updated_at = time;
            o.last_position = pos;
          }
          break;
        }
        case 'OrderAmendRequested': {
          const [price, qty] = [e.data.newPrice === null ? null : u(e.data.newPrice), e.data.newQuantity === null ? null : u(e.data.newQuantity)];
          const o = orders.get(e.data.orderId);
          if (o) {
            o.amend_request_id = e.data.requestId;
            o.amend_status = 'pending';
            o.amend_reject_reason = null;
            o.amendPrice = price ?? o.price;
            o.amendQty = qty ?? o.quantity;
            o.updated_at = time;
            o.last_position = pos;
          }
          break;
        }
        case 'OrderAmendRejected':
        case 'OrderAmendRejectedByEngine': {
          const o = orders.get(e.data.orderId);
          if (o && o.amend_request_id === e.data.requestId) {
            o.amend_status = 'rejected';
            o.amend_reject_reason = e.data.reason;
            o.updated_at = time;
            o.last_position = pos;
          }
          break;
        }
        case 'ReservationReleased': {
          const amount = u(e.data.amount);
          bal(e.data.userId, e.data.asset, amount, -amount, time, pos);
          break;
        }
        case 'FillSettled': {
          const d = e.data;
          const [price, qty, paid, fee, rel] = [u(d.price), u(d.quantity), u(d.notional), u(d.fee), u(d.reservationReleased)];
          if (d.side === 'buy') {
            bal(d.userId, d.quoteAsset, rel - paid, -rel, time, pos);
            bal(d.userId, d.baseAsset, qty, 0n, time, pos);
          } else {
            bal(d.userId, d.baseAsset, rel - qty, -rel, time, pos);
            bal(d.userId, d.quoteAsset, paid, 0n, time, pos);
          }
          if (fee > 0n) bal(d.userId, d.feeAsset, -fee, 0n, time, pos);
          const key = `${d.tradeId}|${d.liquidity}`;
          const existing = trades.get(key);
          if (existing) Object.assign(existing, { notional: f(paid), fee: f(fee), fee_asset: d.feeAsset, settled: 'true' });
          else
            trades.set(key, {
              trade_id: d.tradeId,
              liquidity: d.liquidity,
              user_id: String(d.userId),
              order_id: d.orderId,
              market_id: String(d.marketId),
              side: d.side,
              trade_price: f(price),
              quantity: f(qty),
              notional: f(paid),
              fee: f(fee),
              fee_asset: d.feeAsset,
              executed: 'false',
              settled: 'true',
              trade_time: time,
              position: pos.toString(),
            });
          // average cost, written the long way round
          const pk = `${d.userId}:${d.marketId}`;
          const p = positions.get(pk) ?? { user: d.userId, market: d.marketId, q: 0n, cost: 0n, pnl: 0n, t: time, p: pos };
          const buying = d.side === 'buy';
          if (p.q === 0n || (p.q > 0n && buying) || (p.q < 0n && !buying)) {
            p.q += buying ? qty : -qty;
            p.cost += buying ? paid : -paid;
          } else {
            const held = p.q > 0n ? p.q : -p.q;
            const closed = qty < held ? qty : held;
            const closedValue = closed === qty ? paid : (paid * closed) / qty;
            const released = closed === held ? p.cost : (p.cost * closed) / held;
            p.pnl += p.q > 0n ? closedValue - released : -released - closedValue;
            p.cost -= released;
            p.q += buying ? closed : -closed;
            if (qty > closed) {
              p.q = buying ? qty - closed : -(qty - closed);
              p.cost = buying ? paid - closedValue : -(paid - closedValue);
            }
          }
          p.t = time;
          p.p = pos;
          positions.set(pk, p);
          break;
        }
        case 'OrderRested': {
          const o = orders.get(e.data.orderId);
          const [price, rem] = [u(e.data.price), u(e.data.remainingQuantity)];
          if (o && !FINAL.includes(o.status)) {
            o.status = o.filled > 0n ? 'partially_filled' : 'open';
            o.bookPrice = price;
            o.bookQty = rem;
            o.updated_at = time;
            o.last_position = pos;
          }
          break;
        }
        case 'TradeExecuted': {
          const d = e.data;
          const [price, qty] = [u(d.price), u(d.quantity)];
          const at = new Date(d.executedAt).toISOString();
          const notional = half(price * qty, S);
          tape.push({ trade_id: d.tradeId, market_id: d.marketId, price, qty, side: d.takerSide, time: at, pos });
          const m = markets.get(d.marketId);
          if (m) {
            Object.assign(m.row, { current_price: f(price), last_trade_time: at, updated_at: time, last_position: pos.toString() });
            m.last = at;
          }
          const parties = [
            { liq: 'taker', order: d.takerOrderId, user: d.takerUserId, side: d.takerSide, fee: u(d.takerFee), rem: u(d.takerRemainingQuantity) },
            { liq: 'maker', order: d.makerOrderId, user: d.makerUserId, side: d.takerSide === 'buy' ? 'sell' : 'buy', fee: u(d.makerFee), rem: u(d.makerRemainingQuantity) },
          ];
          for (const party of parties) {
            const key = `${d.tradeId}|${party.liq}`;
            const existing = trades.get(key);
            const base = {
              trade_id: d.tradeId,
              liquidity: party.liq,
              user_id: String(party.user),
              order_id: party.order,
              market_id: String(d.marketId),
              side: party.side,
              trade_price: f(price),
              quantity: f(qty),
              trade_time: at,
              position: pos.toString(),
              executed: 'true',
            };
            if (existing) Object.assign(existing, base);
            else trades.set(key, { ...base, notional: f(notional), fee: f(party.fee), fee_asset: null, settled: 'false' });
            const o = orders.get(party.order);
            if (o) {
              o.filled += qty;
              o.filledNotional += notional;
              if (!FINAL.includes(o.status)) o.status = party.rem === 0n ? 'filled' : 'partially_filled';
              if (o.bookQty > 0n) {
                if (FINAL.includes(o.status) || party.rem === 0n) clearBook(o);
                else o.bookQty = party.rem;
              }
              o.updated_at = at;
              o.last_position = pos;
            }
          }
          break;
        }
        case 'OrderCancelled':
        case 'OrderExpired': {
          const o = orders.get(e.data.orderId);
          if (o) {
            if (!FINAL.includes(o.status)) {
              if (e.type === 'OrderCancelled') o.cancel_reason = e.data.reason;
              // the book's answer to an amend to no more than was filled: the order ends, the amend is applied
              if (e.type === 'OrderCancelled' && e.data.reason === 'user' && o.amend_status === 'pending' && o.amendQty !== null && o.amendQty <= o.filled) o.amend_status = 'applied';
              o.status = e.type === 'OrderCancelled' ? 'cancelled' : 'expired';
            }
            clearBook(o);
            o.updated_at = time;
            o.last_position = pos;
          }
          break;
        }
        case 'OrderAmended': {
          const o = orders.get(e.data.orderId);
          const [price, qty, rem] = [u(e.data.price), u(e.data.quantity), u(e.data.remainingQuantity)];
          if (o && !FINAL.includes(o.status)) {
            o.price = price;
            o.quantity = qty;
            if (o.amend_status === 'pending' && o.amendPrice === price && o.amendQty === qty) o.amend_status = 'applied';
            o.bookPrice = rem > 0n ? price : null;
            o.bookQty = rem;
            o.updated_at = time;
            o.last_position = pos;
          }
          break;
        }
        case 'OrderCancelRequested':
        case 'OrderCancelAccepted':
        case 'OrderCancelRejected':
        case 'OrderEntered':
          break;
      }
    } catch (err) {
      if (err instanceof DecimalValidationError) errors.push({ position: pos.toString(), kind: 'value' });
      else throw err;
    }
  }

  // candles from the tape, in log order
  interface CandleAcc {
    market_id: string;
    interval: string;
    bucket_start: string;
    open: string;
    close: string;
    _h: bigint;
    _l: bigint;
    _v: bigint;
    _q: bigint;
    _n: number;
  }
  const candles = new Map<string, CandleAcc>();
  const sizes: [string, number][] = [['1m', 60_000], ['5m', 300_000], ['1h', 3_600_000], ['1d', 86_400_000]];
  for (const t of tape) {
    for (const [interval, size] of sizes) {
      const start = new Date(Math.floor(Date.parse(t.time) / size) * size).toISOString();
      const key = `${t.market_id}|${interval}|${start}`;
      const c = candles.get(key);
      const quote = half(t.price * t.qty, S);
      if (!c) candles.set(key, { market_id: String(t.market_id), interval, bucket_start: start, open: f(t.price), close: f(t.price), _h: t.price, _l: t.price, _v: t.qty, _q: quote, _n: 1 });
      else {
        c.close = f(t.price);
        if (t.price > c._h) c._h = t.price;
        if (t.price < c._l) c._l = t.price;
        c._v += t.qty;
        c._q += quote;
        c._n += 1;
      }
    }
  }
  const candleRows: CanonicalRow[] = [...candles.values()].map(({ _h, _l, _v, _q, _n, ...rest }) => ({ ...rest, high: f(_h), low: f(_l), volume: f(_v), quote_volume: f(_q), trade_count: String(_n) }));

  // 24 h statistics from the one-minute candles
  for (const m of markets.values()) {
    if (!m.last) continue;
    const endBucket = Math.floor(Date.parse(m.last) / 60_000) * 60_000;
    const window = [...candles.values()]
      .filter((c) => c.market_id === m.row.market_id && c.interval === '1m')
      .filter((c) => {
        const t = Date.parse(c.bucket_start);
        return t > endBucket - 86_400_000 && t <= endBucket;
      })
      .sort((a, b) => Date.parse(a.bucket_start) - Date.parse(b.bucket_start));
    m.row.volume_24h = f(window.reduce((s, c) => s + c._v, 0n));
    m.row.open_24h = window[0]?.open ?? null;
  }

  // L2 levels from the resting orders
  const levels = new Map<string, { market: number; side: string; price: bigint; q: bigint; n: number }>();
  for (const o of orders.values()) {
    if (o.bookQty <= 0n || o.bookPrice === null) continue;
    const key = `${o.market_id}|${o.side}|${o.bookPrice}`;
    const l = levels.get(key) ?? { market: o.market_id, side: o.side, price: o.bookPrice, q: 0n, n: 0 };
    l.q += o.bookQty;
    l.n += 1;
    levels.set(key, l);
  }

  const tables: Record<string, CanonicalRow[]> = {
    projection_checkpoint: [{ name: 'readmodels', position: checkpoint.toString() }],
    users: [...users.values()],
    markets: [...markets.values()].map((m) => m.row),
    orders: [...orders.values()].map((o) => ({
      order_id: o.order_id,
      user_id: String(o.user_id),
      market_id: String(o.market_id),
      client_order_id: o.client_order_id,
      side: o.side,
      type: o.type,
      time_in_force: o.time_in_force,
      post_only: String(o.post_only),
      price: fn(o.price),
      quantity: f(o.quantity),
      filled_quantity: f(o.filled),
      filled_notional: f(o.filledNotional),
      average_fill_price: o.filled === 0n ? null : f(half(o.filledNotional * S, o.filled)),
      status: o.status,
      reject_reason: o.reject_reason,
      cancel_reason: o.cancel_reason,
      reserved_asset: o.reserved_asset,
      book_price: fn(o.bookPrice),
      book_quantity: f(o.bookQty),
      amend_request_id: o.amend_request_id,
      amend_status: o.amend_status,
      amend_reject_reason: o.amend_reject_reason,
      amend_price: fn(o.amendPrice),
      amend_quantity: fn(o.amendQty),
      created_at: o.created_at,
      updated_at: o.updated_at,
      created_position: o.created_position.toString(),
      last_position: o.last_position.toString(),
    })),
    balances: [...balances.values()].map((b) => ({ user_id: String(b.user), asset: b.asset, available: f(b.a), reserved: f(b.r), updated_at: b.t, last_position: b.p.toString() })),
    positions: [...positions.values()].map((p) => ({
      position_id: `${p.user}:${p.market}`,
      user_id: String(p.user),
      market_id: String(p.market),
      quantity: f(p.q),
      cost_basis: f(p.cost),
      average_price: p.q === 0n ? '0' : f(half((p.cost < 0n ? -p.cost : p.cost) * S, p.q < 0n ? -p.q : p.q)),
      realized_pnl: f(p.pnl),
      updated_at: p.t,
      last_position: p.p.toString(),
    })),
    trades: [...trades.values()],
    public_trades: tape.map((t) => ({ trade_id: t.trade_id, market_id: String(t.market_id), price: f(t.price), quantity: f(t.qty), taker_side: t.side, trade_time: t.time, position: t.pos.toString() })),
    candles: candleRows,
    book_levels: [...levels.values()].map((l) => ({ market_id: String(l.market), side: l.side, price: f(l.price), quantity: f(l.q), order_count: String(l.n) })),
    kill_switches: [...switches.values()],
  };
  return { tables, errorPositions: errors };
}
