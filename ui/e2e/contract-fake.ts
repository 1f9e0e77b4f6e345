/**
 * An in-memory implementation of the /api/v1 contract (shared/api-contract.md), just big enough
 * to drive the UI in a real browser while the single-node server's read side is being written:
 * users and JWT-like tokens, three markets, limit/market orders with price-time matching, risk
 * reservations, fees, positions, candles, admin commands and the SSE stream. Exact decimals only.
 * It is a test double for the UI's end-to-end tests, not a reference for the real services.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { extname, join, normalize as normalizePath } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  add,
  cmp,
  dec,
  div,
  formatDecimal,
  isMultipleOf,
  isPositive,
  isZero,
  mul,
  mulBps,
  neg,
  parseDecimal,
  sub,
  abs,
  type Dec,
} from '../src/lib/decimal.ts';

type Side = 'buy' | 'sell';
interface User {
  userId: number;
  username: string;
  password: string;
  roles: string[];
}
interface Market {
  marketId: number;
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
  tickSize: string;
  lotSize: string;
  currentPrice: string | null;
  referencePrice: string | null;
  status: 'open' | 'halted';
  makerFeeBps: number;
  takerFeeBps: number;
  maxOrderQuantity: string;
  maxOrderNotional: string;
}
interface Order {
  orderId: string;
  clientOrderId: string | null;
  userId: number;
  marketId: number;
  side: Side;
  type: 'limit' | 'market';
  timeInForce: 'GTC' | 'IOC' | 'FOK';
  price: string | null;
  quantity: string;
  filledQuantity: string;
  averageFillPrice: string | null;
  status: 'pending' | 'open' | 'partially_filled' | 'filled' | 'cancelled' | 'rejected' | 'expired';
  rejectReason: string | null;
  postOnly: boolean;
  createdAt: string;
  updatedAt: string;
  seq: number;
  /** Remaining reservation held for this order (quote for buys, base for sells). */
  reserved: Dec;
  notionalFilled: Dec;
}
interface Trade {
  tradeId: string;
  marketId: number;
  price: string;
  quantity: string;
  takerSide: Side;
  tradeTime: string;
}
interface Fill {
  tradeId: string;
  orderId: string;
  marketId: number;
  side: Side;
  price: string;
  quantity: string;
  fee: string;
  liquidity: 'maker' | 'taker';
  tradeTime: string;
  userId: number;
}
interface Position {
  quantity: Dec;
  average: Dec | null;
  realized: Dec;
}

const Z = dec('0');
const TOKEN_TTL_MS = 3_600_000;

export interface ContractFake {
  url: string;
  admin: { username: string; password: string };
  stop(): Promise<void>;
  /** For tests of session expiry: invalidate every token. */
  expireTokens(): void;
}

export async function startContractFake(opts: { uiDist: string; admin?: { username: string; password: string } }): Promise<ContractFake> {
  const admin = opts.admin ?? { username: 'admin', password: 'admin-password-1' };
  let position = 0;
  let seq = 0;
  const users: User[] = [{ userId: 1, username: admin.username, password: admin.password, roles: ['trader', 'admin'] }];
  const tokens = new Map<string, { userId: number; exp: number }>();
  const markets: Market[] = [
    { symbol: 'BTC-USD', baseAsset: 'BTC', quoteAsset: 'USD', tickSize: '0.01', lotSize: '0.0001', referencePrice: '65000', maxOrderQuantity: '100', maxOrderNotional: '5000000' },
    { symbol: 'ETH-USD', baseAsset: 'ETH', quoteAsset: 'USD', tickSize: '0.01', lotSize: '0.001', referencePrice: '3200', maxOrderQuantity: '1000', maxOrderNotional: '2000000' },
    { symbol: 'SOL-USD', baseAsset: 'SOL', quoteAsset: 'USD', tickSize: '0.001', lotSize: '0.01', referencePrice: '150', maxOrderQuantity: '100000', maxOrderNotional: '1000000' },
  ].map((m, i) => ({ ...m, marketId: i + 1, currentPrice: null, status: 'open' as const, makerFeeBps: 5, takerFeeBps: 10 }));
  const orders: Order[] = [];
  const trades: Trade[] = [];
  const fills: Fill[] = [];
  const balances = new Map<number, Map<string, { available: Dec; reserved: Dec }>>();
  const positions = new Map<number, Map<number, Position>>();
  const killSwitches = new Set<string>();
  const streams = new Set<{ res: ServerResponse; userId: number }>();

  // ---------- helpers ----------
  const now = () => new Date().toISOString();
  const bal = (userId: number, asset: string) => {
    let m = balances.get(userId);
    if (!m) balances.set(userId, (m = new Map<string, { available: Dec; reserved: Dec }>()));
    let b = m.get(asset);
    if (!b) m.set(asset, (b = { available: Z, reserved: Z }));
    return b;
  };
  const pos = (userId: number, marketId: number) => {
    let m = positions.get(userId);
    if (!m) positions.set(userId, (m = new Map<number, Position>()));
    let p = m.get(marketId);
    if (!p) m.set(marketId, (p = { quantity: Z, average: null, realized: Z }));
    return p;
  };
  const publicOrder = (o: Order) => {
    const { userId: _u, seq: _s, reserved: _r, notionalFilled: _n, ...rest } = o;
    return rest;
  };
  const portfolio = (userId: number) => ({
    userId,
    balances: [...(balances.get(userId)?.entries() ?? [])].map(([asset, b]) => ({
      asset,
      available: formatDecimal(b.available),
      reserved: formatDecimal(b.reserved),
    })),
    positions: [...(positions.get(userId)?.entries() ?? [])]
      .filter(([, p]) => !isZero(p.quantity) || !isZero(p.realized))
      .map(([marketId, p]) => {
        const m = markets.find((x) => x.marketId === marketId)!;
        const mark = parseDecimal(m.currentPrice);
        return {
          marketId,
          symbol: m.symbol,
          quantity: formatDecimal(p.quantity),
          averagePrice: p.average ? formatDecimal(p.average) : null,
          realizedPnl: formatDecimal(p.realized),
          unrealizedPnl: mark && p.average ? formatDecimal(mul(sub(mark, p.average), p.quantity)) : '0',
          marketPrice: m.currentPrice,
        };
      }),
  });
  const book = (marketId: number, depth = 20) => {
    const levels = (side: Side) => {
      const agg = new Map<string, Dec>();
      const resting = orders
        .filter((o) => o.marketId === marketId && o.side === side && (o.status === 'open' || o.status === 'partially_filled'))
        .sort((a, b) => (side === 'buy' ? cmp(dec(b.price!), dec(a.price!)) : cmp(dec(a.price!), dec(b.price!))) || a.seq - b.seq);
      for (const o of resting) {
        const key = formatDecimal(dec(o.price!));
        agg.set(key, add(agg.get(key) ?? Z, sub(dec(o.quantity), dec(o.filledQuantity))));
      }
      return [...agg.entries()].slice(0, depth).map(([price, q]) => ({ price, quantity: formatDecimal(q) }));
    };
    return { marketId, bids: levels('buy'), asks: levels('sell') };
  };

  const send = (event: string, data: unknown, toUser?: number) => {
    position += 1;
    for (const s of streams) {
      if (toUser !== undefined && s.userId !== toUser) continue;
      s.res.write(`event: ${event}\nid: ${position}\ndata: ${JSON.stringify(data)}\n\n`);
    }
  };
  const emitOrder = (o: Order) => send('order', publicOrder(o), o.userId);
  const emitPortfolio = (userId: number) => send('portfolio', portfolio(userId), userId);
  const emitBook = (marketId: number) => send('book', book(marketId));

  const applyPosition = (userId: number, marketId: number, side: Side, price: Dec, qty: Dec) => {
    const p = pos(userId, marketId);
    const signed = side === 'buy' ? qty : neg(qty);
    if (isZero(p.quantity) || (p.quantity.units > 0n) === (signed.units > 0n)) {
      const total = add(abs(p.quantity), qty);
      p.average = div(add(mul(p.average ?? Z, abs(p.quantity)), mul(price, qty)), total, 8);
      p.quantity = add(p.quantity, signed);
      return;
    }
    const closing = cmp(qty, abs(p.quantity)) <= 0 ? qty : abs(p.quantity);
    const direction = p.quantity.units > 0n ? dec('1') : dec('-1');
    p.realized = add(p.realized, mul(mul(sub(price, p.average ?? price), closing), direction));
    p.quantity = add(p.quantity, signed);
    if (isZero(p.quantity)) p.average = null;
    else if ((p.quantity.units > 0n) === (signed.units > 0n)) p.average = price; // crossed through zero
  };

  const release = (o: Order) => {
    const m = markets.find((x) => x.marketId === o.marketId)!;
    const b = bal(o.userId, o.side === 'buy' ? m.quoteAsset : m.baseAsset);
    b.reserved = sub(b.reserved, o.reserved);
    b.available = add(b.available, o.reserved);
    o.reserved = Z;
  };

  const finish = (o: Order, status: Order['status'], reason: string | null = null) => {
    o.status = status;
    o.rejectReason = reason;
    o.updatedAt = now();
    if (status !== 'open' && status !== 'partially_filled') release(o);
  };

  const match = (taker: Order, m: Market) => {
    const takerPrice = taker.price ? dec(taker.price) : null;
    const touched = new Set<number>([taker.userId]);
    for (;;) {
      const remaining = sub(dec(taker.quantity), dec(taker.filledQuantity));
      if (!isPositive(remaining)) break;
      const makers = orders
        .filter((o) => o.marketId === m.marketId && o.side !== taker.side && (o.status === 'open' || o.status === 'partially_filled') && o !== taker)
        .sort((a, b) => (taker.side === 'buy' ? cmp(dec(a.price!), dec(b.price!)) : cmp(dec(b.price!), dec(a.price!))) || a.seq - b.seq);
      const maker = makers[0];
      if (!maker) break;
      const makerPrice = dec(maker.price!);
      if (takerPrice && (taker.side === 'buy' ? cmp(makerPrice, takerPrice) > 0 : cmp(makerPrice, takerPrice) < 0)) break;
      if (maker.userId === taker.userId) {
        finish(taker, taker.filledQuantity === '0' ? 'rejected' : 'cancelled', taker.filledQuantity === '0' ? 'self_trade' : null);
        return touched;
      }
      const makerRemaining = sub(dec(maker.quantity), dec(maker.filledQuantity));
      const qty = cmp(remaining, makerRemaining) <= 0 ? remaining : makerRemaining;
      const notional = mul(qty, makerPrice);
      const tradeId = randomUUID();
      const time = now();
      for (const [o, liquidity] of [
        [taker, 'taker'],
        [maker, 'maker'],
      ] as const) {
        const fee = mulBps(notional, liquidity === 'taker' ? m.takerFeeBps : m.makerFeeBps);
        const quote = bal(o.userId, m.quoteAsset);
        const base = bal(o.userId, m.baseAsset);
        if (o.side === 'buy') {
          const paid = add(notional, fee);
          quote.reserved = sub(quote.reserved, paid);
          o.reserved = sub(o.reserved, paid);
          base.available = add(base.available, qty);
        } else {
          base.reserved = sub(base.reserved, qty);
          o.reserved = sub(o.reserved, qty);
          quote.available = add(quote.available, sub(notional, fee));
        }
        o.notionalFilled = add(o.notionalFilled, notional);
        o.filledQuantity = formatDecimal(add(dec(o.filledQuantity), qty));
        o.averageFillPrice = formatDecimal(div(o.notionalFilled, dec(o.filledQuantity), 8));
        o.updatedAt = time;
        fills.push({ tradeId, orderId: o.orderId, marketId: m.marketId, side: o.side, price: formatDecimal(makerPrice), quantity: formatDecimal(qty), fee: formatDecimal(fee), liquidity, tradeTime: time, userId: o.userId });
        applyPosition(o.userId, m.marketId, o.side, makerPrice, qty);
        touched.add(o.userId);
      }
      if (cmp(dec(maker.filledQuantity), dec(maker.quantity)) === 0) finish(maker, 'filled');
      else maker.status = 'partially_filled';
      emitOrder(maker);
      m.currentPrice = formatDecimal(makerPrice);
      const trade: Trade = { tradeId, marketId: m.marketId, price: formatDecimal(makerPrice), quantity: formatDecimal(qty), takerSide: taker.side, tradeTime: time };
      trades.unshift(trade);
      send('trade', trade);
    }
    return touched;
  };

  const process = (o: Order) => {
    const m = markets.find((x) => x.marketId === o.marketId)!;
    const reject = (reason: string) => {
      finish(o, 'rejected', reason);
      emitOrder(o);
    };
    if (m.status === 'halted') return reject('market_halted');
    if (killSwitches.has('global') || killSwitches.has(`market:${m.marketId}`) || killSwitches.has(`user:${o.userId}`)) return reject('kill_switch');
    const qty = dec(o.quantity);
    if (cmp(qty, dec(m.maxOrderQuantity)) > 0) return reject('max_order_quantity');
    const refPrice = o.price ? dec(o.price) : dec(m.currentPrice ?? m.referencePrice ?? '0');
    const notional = mul(qty, refPrice);
    if (cmp(notional, dec(m.maxOrderNotional)) > 0) return reject('max_order_notional');
    const spend = o.side === 'buy' ? add(notional, mulBps(notional, m.takerFeeBps)) : qty;
    const b = bal(o.userId, o.side === 'buy' ? m.quoteAsset : m.baseAsset);
    if (cmp(spend, b.available) > 0) return reject(o.side === 'buy' ? 'insufficient_funds' : 'insufficient_position');
    b.available = sub(b.available, spend);
    b.reserved = add(b.reserved, spend);
    o.reserved = spend;
    const opposite = book(m.marketId).asks.concat([]);
    const bestOpp = o.side === 'buy' ? opposite[0] : book(m.marketId).bids[0];
    const crosses = bestOpp && o.price ? (o.side === 'buy' ? cmp(dec(bestOpp.price), dec(o.price)) <= 0 : cmp(dec(bestOpp.price), dec(o.price)) >= 0) : Boolean(bestOpp);
    if (o.postOnly && crosses) return reject('post_only_would_take');
    if (o.timeInForce === 'FOK') {
      const levels = o.side === 'buy' ? book(m.marketId).asks : book(m.marketId).bids;
      let avail = Z;
      for (const l of levels) if (!o.price || (o.side === 'buy' ? cmp(dec(l.price), dec(o.price)) <= 0 : cmp(dec(l.price), dec(o.price)) >= 0)) avail = add(avail, dec(l.quantity));
      if (cmp(avail, qty) < 0) return reject('fok_unfillable');
    }
    o.status = 'open';
    const touched = match(o, m);
    if (o.status === 'open' || o.status === 'partially_filled') {
      if (cmp(dec(o.filledQuantity), qty) === 0) finish(o, 'filled');
      else if (o.type === 'market' || o.timeInForce !== 'GTC') finish(o, 'cancelled');
      else o.status = isZero(dec(o.filledQuantity)) ? 'open' : 'partially_filled';
    }
    o.updatedAt = now();
    emitOrder(o);
    emitBook(m.marketId);
    for (const u of touched) emitPortfolio(u);
  };

  // ---------- HTTP ----------
  const problem = (res: ServerResponse, status: number, title: string, detail?: string, errors?: { path: string; message: string }[]) => {
    res.writeHead(status, { 'Content-Type': 'application/problem+json' });
    res.end(JSON.stringify({ type: 'about:blank', title, status, ...(detail ? { detail } : {}), ...(errors ? { errors } : {}) }));
  };
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'X-Projection-Position': String(position), ...headers });
    res.end(JSON.stringify(body));
  };
  const accepted = (res: ServerResponse, body: Record<string, unknown>) => {
    position += 1;
    json(res, 202, { ...body, position }, { 'X-Event-Position': String(position) });
  };
  const readBody = (req: IncomingMessage) =>
    new Promise<Record<string, unknown>>((ok) => {
      let s = '';
      req.on('data', (d: Buffer) => (s += d.toString()));
      req.on('end', () => {
        try {
          const v: unknown = s ? JSON.parse(s) : {};
          ok(v && typeof v === 'object' ? (v as Record<string, unknown>) : {});
        } catch {
          ok({});
        }
      });
    });
  const auth = (req: IncomingMessage, url: URL): User | null => {
    const h = req.headers.authorization;
    const token = h?.startsWith('Bearer ') ? h.slice(7) : url.searchParams.get('access_token');
    const t = token ? tokens.get(token) : undefined;
    if (!t || t.exp < Date.now()) return null;
    return users.find((u) => u.userId === t.userId) ?? null;
  };
  const decimalField = (body: Record<string, unknown>, field: string, step?: string): Dec | string => {
    const v = body[field];
    const d = typeof v === 'string' ? parseDecimal(v) : null;
    if (!d || !isPositive(d) || (v as string).startsWith('+')) return `${field} must be a positive decimal string`;
    if (step && !isMultipleOf(d, dec(step))) return `${field} must be a multiple of ${step}`;
    return d;
  };

  const serveStatic = (res: ServerResponse, path: string) => {
    const rel = normalizePath(path === '/' ? '/index.html' : path).replace(/^(\.\.[/\\])+/, '');
    const file = join(opts.uiDist, rel);
    if (!file.startsWith(opts.uiDist) || !existsSync(file)) return problem(res, 404, 'Not Found');
    const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png' };
    res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const p = url.pathname;
    const method = req.method ?? 'GET';
    if (p === '/ready' || p === '/health') return json(res, 200, { status: 'ready' });
    if (!p.startsWith('/api/v1/')) return method === 'GET' ? serveStatic(res, p) : problem(res, 404, 'Not Found');
    const r = p.slice('/api/v1'.length);
    let mm: RegExpExecArray | null;

    if (method === 'POST' && r === '/auth/register') {
      const body = await readBody(req);
      const username = typeof body.username === 'string' ? body.username : '';
      const password = typeof body.password === 'string' ? body.password : '';
      if (!/^[A-Za-z0-9_.-]{3,32}$/.test(username) || password.length < 8) return problem(res, 400, 'Bad Request', 'invalid username or password');
      if (users.some((u) => u.username === username)) return problem(res, 409, 'Conflict', 'username taken');
      const user = { userId: users.length + 1, username, password, roles: ['trader'] };
      users.push(user);
      return json(res, 201, { userId: user.userId, username });
    }
    if (method === 'POST' && r === '/auth/login') {
      const body = await readBody(req);
      const user = users.find((u) => u.username === body.username && u.password === body.password);
      if (!user) return problem(res, 401, 'Unauthorized', 'bad credentials');
      const token = randomBytes(24).toString('base64url');
      const exp = Date.now() + TOKEN_TTL_MS;
      tokens.set(token, { userId: user.userId, exp });
      return json(res, 200, { token, tokenType: 'Bearer', expiresAt: new Date(exp).toISOString(), user: { userId: user.userId, username: user.username, roles: user.roles } });
    }
    if (method === 'GET' && r === '/markets') return json(res, 200, markets);
    if (method === 'GET' && (mm = /^\/markets\/(\d+)(\/(book|trades|candles))?$/.exec(r))) {
      const m = markets.find((x) => x.marketId === Number(mm![1]));
      if (!m) return problem(res, 404, 'Not Found');
      if (!mm[3]) return json(res, 200, m);
      if (mm[3] === 'book') return json(res, 200, book(m.marketId, Number(url.searchParams.get('depth') ?? 20)));
      if (mm[3] === 'trades')
        return json(res, 200, { items: trades.filter((t) => t.marketId === m.marketId).slice(0, Number(url.searchParams.get('limit') ?? 50)).map(({ marketId: _m, ...t }) => t), nextCursor: null });
      const ms = { '1m': 60_000, '5m': 300_000, '1h': 3_600_000, '1d': 86_400_000 }[url.searchParams.get('interval') ?? '1m'] ?? 60_000;
      const from = Date.parse(url.searchParams.get('from') ?? '') || 0;
      const to = Date.parse(url.searchParams.get('to') ?? '') || Date.now();
      const buckets = new Map<number, { open: Dec; high: Dec; low: Dec; close: Dec; volume: Dec }>();
      for (const t of [...trades].reverse().filter((x) => x.marketId === m.marketId)) {
        const at = Date.parse(t.tradeTime);
        if (at < from || at > to) continue;
        const k = Math.floor(at / ms) * ms;
        const price = dec(t.price);
        const c = buckets.get(k);
        if (!c) buckets.set(k, { open: price, high: price, low: price, close: price, volume: dec(t.quantity) });
        else {
          if (cmp(price, c.high) > 0) c.high = price;
          if (cmp(price, c.low) < 0) c.low = price;
          c.close = price;
          c.volume = add(c.volume, dec(t.quantity));
        }
      }
      return json(
        res,
        200,
        [...buckets.entries()].map(([k, c]) => ({ time: new Date(k).toISOString(), open: formatDecimal(c.open), high: formatDecimal(c.high), low: formatDecimal(c.low), close: formatDecimal(c.close), volume: formatDecimal(c.volume) })),
      );
    }

    const user = auth(req, url);
    if (!user) return problem(res, 401, 'Unauthorized', 'missing or expired token');

    if (method === 'GET' && r === '/stream') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
      res.write(': connected\n\n');
      const s = { res, userId: user.userId };
      streams.add(s);
      req.on('close', () => streams.delete(s));
      return;
    }
    if (method === 'GET' && r === '/portfolio') return json(res, 200, portfolio(user.userId));
    if (method === 'GET' && r === '/trades') {
      const marketId = url.searchParams.get('marketId');
      return json(res, 200, {
        items: fills.filter((f) => f.userId === user.userId && (!marketId || f.marketId === Number(marketId))).reverse().map(({ userId: _u, ...f }) => f),
        nextCursor: null,
      });
    }
    if (method === 'GET' && r === '/orders') {
      const status = url.searchParams.get('status') ?? 'all';
      const marketId = url.searchParams.get('marketId');
      const items = orders
        .filter((o) => o.userId === user.userId && (!marketId || o.marketId === Number(marketId)))
        .filter((o) =>
          status === 'all' ? true : status === 'open' ? ['pending', 'open', 'partially_filled'].includes(o.status) : status === 'cancelled' ? ['cancelled', 'expired'].includes(o.status) : o.status === status,
        )
        .sort((a, b) => b.seq - a.seq)
        .map(publicOrder);
      return json(res, 200, { items, nextCursor: null });
    }
    if ((mm = /^\/orders\/([^/]+)$/.exec(r))) {
      const o = orders.find((x) => x.orderId === decodeURIComponent(mm![1]!) && x.userId === user.userId);
      if (!o) return problem(res, 404, 'Not Found');
      if (method === 'GET') return json(res, 200, publicOrder(o));
      const isFinal = !['pending', 'open', 'partially_filled'].includes(o.status);
      if (isFinal) return problem(res, 409, 'Conflict', 'order is final');
      const m = markets.find((x) => x.marketId === o.marketId)!;
      if (method === 'DELETE') {
        accepted(res, { orderId: o.orderId });
        setTimeout(() => {
          finish(o, 'cancelled');
          emitOrder(o);
          emitBook(m.marketId);
          emitPortfolio(o.userId);
        }, 30);
        return;
      }
      if (method === 'PATCH') {
        const body = await readBody(req);
        const errors: { path: string; message: string }[] = [];
        const price = body.price === undefined ? null : decimalField(body, 'price', m.tickSize);
        const quantity = body.quantity === undefined ? null : decimalField(body, 'quantity', m.lotSize);
        if (typeof price === 'string') errors.push({ path: 'price', message: price });
        if (typeof quantity === 'string') errors.push({ path: 'quantity', message: quantity });
        if (errors.length) return problem(res, 400, 'Bad Request', 'invalid amend', errors);
        accepted(res, { orderId: o.orderId });
        setTimeout(() => {
          release(o);
          const b = bal(o.userId, o.side === 'buy' ? m.quoteAsset : m.baseAsset);
          const newPrice = (price as Dec | null) ?? dec(o.price!);
          const newQty = (quantity as Dec | null) ?? dec(o.quantity);
          const rem = sub(newQty, dec(o.filledQuantity));
          const need = o.side === 'buy' ? add(mul(rem, newPrice), mulBps(mul(rem, newPrice), m.takerFeeBps)) : rem;
          if (!isPositive(rem) || cmp(need, b.available) > 0) {
            finish(o, 'cancelled');
          } else {
            b.available = sub(b.available, need);
            b.reserved = add(b.reserved, need);
            o.reserved = need;
            if (price) o.seq = ++seq;
            o.price = formatDecimal(newPrice);
            o.quantity = formatDecimal(newQty);
            o.updatedAt = now();
          }
          emitOrder(o);
          emitBook(m.marketId);
          emitPortfolio(o.userId);
        }, 30);
        return;
      }
    }
    if (method === 'POST' && r === '/orders') {
      const body = await readBody(req);
      const m = markets.find((x) => x.marketId === body.marketId);
      if (!m) return problem(res, 400, 'Bad Request', 'unknown market', [{ path: 'marketId', message: 'unknown market' }]);
      const errors: { path: string; message: string }[] = [];
      if (body.side !== 'buy' && body.side !== 'sell') errors.push({ path: 'side', message: 'buy or sell' });
      if (body.type !== 'limit' && body.type !== 'market') errors.push({ path: 'type', message: 'limit or market' });
      const quantity = decimalField(body, 'quantity', m.lotSize);
      if (typeof quantity === 'string') errors.push({ path: 'quantity', message: quantity });
      const price = body.type === 'limit' ? decimalField(body, 'price', m.tickSize) : null;
      if (typeof price === 'string') errors.push({ path: 'price', message: price });
      if (errors.length) return problem(res, 400, 'Bad Request', 'invalid order', errors);
      const clientOrderId = typeof body.clientOrderId === 'string' ? body.clientOrderId : null;
      const existing = clientOrderId ? orders.find((o) => o.userId === user.userId && o.clientOrderId === clientOrderId) : undefined;
      if (existing) return accepted(res, { orderId: existing.orderId, clientOrderId, status: 'pending' });
      const t = now();
      const o: Order = {
        orderId: randomUUID(),
        clientOrderId,
        userId: user.userId,
        marketId: m.marketId,
        side: body.side as Side,
        type: body.type as 'limit' | 'market',
        timeInForce: (body.timeInForce as Order['timeInForce'] | undefined) ?? (body.type === 'market' ? 'IOC' : 'GTC'),
        price: price ? formatDecimal(price as Dec) : null,
        quantity: formatDecimal(quantity as Dec),
        filledQuantity: '0',
        averageFillPrice: null,
        status: 'pending',
        rejectReason: null,
        postOnly: body.postOnly === true,
        createdAt: t,
        updatedAt: t,
        seq: ++seq,
        reserved: Z,
        notionalFilled: Z,
      };
      orders.push(o);
      accepted(res, { orderId: o.orderId, clientOrderId, status: 'pending' });
      setTimeout(() => process(o), 40);
      return;
    }

    if (r.startsWith('/admin/')) {
      if (!user.roles.includes('admin')) return problem(res, 403, 'Forbidden');
      const body = await readBody(req);
      if (method === 'POST' && r === '/admin/deposits') {
        const target = users.find((u) => u.userId === body.userId);
        const amount = decimalField(body, 'amount');
        if (!target || typeof body.asset !== 'string' || typeof amount === 'string') return problem(res, 400, 'Bad Request', 'invalid deposit');
        const b = bal(target.userId, body.asset);
        b.available = add(b.available, amount);
        accepted(res, {});
        emitPortfolio(target.userId);
        return;
      }
      if (method === 'POST' && r === '/admin/markets') {
        const tick = decimalField(body, 'tickSize');
        const lot = decimalField(body, 'lotSize');
        if (typeof body.symbol !== 'string' || typeof tick === 'string' || typeof lot === 'string') return problem(res, 400, 'Bad Request', 'invalid market');
        const marketId = markets.length + 1;
        markets.push({
          marketId,
          symbol: body.symbol,
          baseAsset: String(body.baseAsset),
          quoteAsset: String(body.quoteAsset),
          tickSize: formatDecimal(tick),
          lotSize: formatDecimal(lot),
          currentPrice: null,
          referencePrice: typeof body.referencePrice === 'string' ? body.referencePrice : null,
          status: 'open',
          makerFeeBps: 5,
          takerFeeBps: 10,
          maxOrderQuantity: '1000000',
          maxOrderNotional: '10000000',
        });
        position += 1;
        return json(res, 201, { marketId, position });
      }
      if (method === 'POST' && r === '/admin/kill-switch') {
        const key = body.scope === 'global' ? 'global' : body.scope === 'market' ? `market:${String(body.marketId)}` : `user:${String(body.userId)}`;
        if (body.engaged === true) {
          killSwitches.add(key);
          for (const o of orders)
            if (['open', 'partially_filled'].includes(o.status) && (key === 'global' || key === `market:${o.marketId}` || key === `user:${o.userId}`)) {
              finish(o, 'cancelled');
              emitOrder(o);
              emitPortfolio(o.userId);
            }
          for (const m of markets) emitBook(m.marketId);
        } else killSwitches.delete(key);
        return accepted(res, {});
      }
    }
    return problem(res, 404, 'Not Found', `no route ${method} ${p}`);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) problem(res, 500, 'Internal Server Error', String(err));
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    admin,
    expireTokens: () => tokens.clear(),
    stop: () =>
      new Promise<void>((ok) => {
        for (const s of streams) s.res.end();
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
