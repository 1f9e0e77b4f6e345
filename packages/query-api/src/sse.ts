/**
 * `GET /api/v1/stream`: Server-Sent Events for the live UI.
 *
 * - `book` (L2 snapshot, depth 20) and `trade` (tape rows) for every market, or the one given by
 *   `?marketId=`; public.
 * - `order` (an order that changed) and `portfolio` (the whole portfolio) for the caller only,
 *   when a token comes with the request: `Authorization: Bearer …` or `?access_token=…`
 *   (EventSource cannot set headers). A bad token is a 401 before the stream starts.
 * - Every message has `id: <position>` (the event-log position it reflects, non-decreasing); a
 *   reconnect with `Last-Event-ID` (or `?lastEventId=`) first replays the trades and order
 *   changes after that position, then sends fresh snapshots.
 * - A comment line every `heartbeatMs` keeps proxies from closing an idle stream.
 * One hub per app turns each projection notification into at most one query per kind, shared by
 * every connection.
 */
import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { problems, type Principal } from '@tradecore/http-kit';
import type { ReadModelNotification } from '@tradecore/projections';
import type { QueryApiDeps } from './routes.ts';
import { orderJson, type OrderDbRow, type Queries } from './sql.ts';

interface Client {
  res: ServerResponse;
  userId: number | null;
  marketId: number | null;
  lastId: bigint;
  /** Highest tape / order-change position sent: rows at or below are never sent twice. */
  tradeMark: bigint;
  orderMark: bigint;
}

const StreamQuery = z
  .object({
    access_token: z.string().min(1).max(4096).optional(),
    marketId: z.string().regex(/^[1-9]\d{0,9}$/, 'must be a positive integer').transform(Number).optional(),
    lastEventId: z.string().regex(/^\d{1,20}$/, 'must be a position').optional(),
  })
  .strict();

function frame(id: bigint, event: string, data: unknown): string {
  return `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

type TapeRow = { market_id: number; trade_id: string; price: string; quantity: string; taker_side: string; trade_time: string; position: string };
const tradeJson = (t: TapeRow) => ({ marketId: t.market_id, tradeId: t.trade_id, price: t.price, quantity: t.quantity, takerSide: t.taker_side, tradeTime: t.trade_time });

export function registerStream(app: FastifyInstance, deps: QueryApiDeps & { schema: string; queries: Queries }): void {
  const q = deps.queries;
  const clients = new Set<Client>();
  let processed = deps.positions.current();
  let queue: Promise<void> = Promise.resolve();

  const send = (c: Client, id: bigint, event: string, data: unknown) => {
    if (id > c.lastId) c.lastId = id;
    c.res.write(frame(c.lastId, event, data));
  };

  const book = async (marketId: number): Promise<{ position: bigint; body: unknown } | null> => {
    const r = await deps.pool.query<{ __position: string; body: string | null }>(q.book, [marketId, 20]);
    const row = r.rows[0];
    return row?.body ? { position: BigInt(row.__position), body: JSON.parse(row.body) as unknown } : null;
  };
  const portfolio = async (userId: number): Promise<{ position: bigint; body: unknown } | null> => {
    const r = await deps.pool.query<{ __position: string; body: string }>(q.portfolio, [userId]);
    const row = r.rows[0];
    return row ? { position: BigInt(row.__position), body: JSON.parse(row.body) as unknown } : null;
  };
  const allMarkets = async (): Promise<number[]> => (await deps.pool.query<{ market_id: number }>(q.marketIds)).rows.map((r) => r.market_id);

  /** Pushes everything after `after` for the touched markets and users to the interested clients. */
  const push = async (after: bigint, markets: number[] | 'all', users: number[] | 'all', targets: readonly Client[]) => {
    if (targets.length === 0) return;
    const wantedMarkets = new Set<number>();
    for (const c of targets) {
      if (c.marketId !== null) wantedMarkets.add(c.marketId);
    }
    const anyAll = targets.some((c) => c.marketId === null);
    const marketList = markets === 'all' ? (anyAll ? await allMarkets() : [...wantedMarkets]) : markets.filter((m) => anyAll || wantedMarkets.has(m));
    if (marketList.length > 0) {
      const tape = await deps.pool.query<TapeRow>(q.tapeSince, [markets === 'all' ? null : marketList, after.toString()]);
      for (const t of tape.rows) {
        const at = BigInt(t.position);
        for (const c of targets) {
          if ((c.marketId === null || c.marketId === t.market_id) && at > c.tradeMark) {
            c.tradeMark = at;
            send(c, at, 'trade', tradeJson(t));
          }
        }
      }
      for (const m of marketList) {
        const b = await book(m);
        if (!b) continue;
        for (const c of targets) if (c.marketId === null || c.marketId === m) send(c, b.position, 'book', b.body);
      }
    }
    const userIds = [...new Set(targets.flatMap((c) => (c.userId !== null && (users === 'all' || users.includes(c.userId)) ? [c.userId] : [])))];
    if (userIds.length > 0) {
      const changed = await deps.pool.query<OrderDbRow & { user_id: number }>(q.ordersChanged, [userIds, after.toString()]);
      for (const o of changed.rows) {
        const at = BigInt(o.last_position);
        for (const c of targets) {
          if (c.userId === o.user_id && at > c.orderMark) {
            c.orderMark = at;
            send(c, at, 'order', orderJson(o));
          }
        }
      }
      for (const u of userIds) {
        const p = await portfolio(u);
        if (!p) continue;
        for (const c of targets) if (c.userId === u) send(c, p.position, 'portfolio', p.body);
      }
    }
  };

  const onNotification = (n: ReadModelNotification) => {
    queue = queue
      .then(async () => {
        const p = BigInt(n.position);
        if (p <= processed && !n.overflow) return;
        const after = processed;
        processed = p > processed ? p : processed;
        if (clients.size === 0) return;
        await push(after, n.overflow ? 'all' : n.markets, n.overflow ? 'all' : n.users, [...clients]);
      })
      .catch((err: unknown) => app.log.warn({ err }, 'stream push failed'));
  };
  const unsubscribe = deps.positions.subscribe(onNotification);

  const heartbeat = setInterval(() => {
    for (const c of clients) c.res.write(': heartbeat\n\n');
  }, deps.heartbeatMs ?? 15_000);
  heartbeat.unref();

  // preClose: open streams would otherwise keep the server from closing.
  app.addHook('preClose', async () => {
    unsubscribe();
    clearInterval(heartbeat);
    for (const c of clients) c.res.end();
    clients.clear();
  });

  app.withTypeProvider<ZodTypeProvider>().get('/api/v1/stream', { schema: { querystring: StreamQuery } }, async (request, reply) => {
    let principal: Principal | null = null;
    const header = request.headers.authorization;
    if (header !== undefined) {
      const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(header);
      if (!match?.[1]) throw problems.unauthorized();
      principal = deps.tokens.verify(match[1]);
    } else if (request.query.access_token !== undefined) {
      principal = deps.tokens.verify(request.query.access_token);
    }
    const lastEventHeader = request.headers['last-event-id'];
    const resumeRaw = typeof lastEventHeader === 'string' && /^\d{1,20}$/.test(lastEventHeader) ? lastEventHeader : request.query.lastEventId;
    const position = deps.positions.current();

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-projection-position': position.toString(),
    });
    res.write(`retry: 3000\n: stream open at ${position}\n\n`);
    const client: Client = { res, userId: principal?.userId ?? null, marketId: request.query.marketId ?? null, lastId: 0n, tradeMark: 0n, orderMark: 0n };
    request.raw.on('close', () => clients.delete(client));
    // Catch up (replay after Last-Event-ID, then snapshots) in the hub's queue, so that no
    // notification is pushed to this client before its catch-up and nothing is sent twice.
    queue = queue
      .then(async () => {
        // Without Last-Event-ID: snapshots only; with it: the trades and order changes after it first.
        const from = resumeRaw !== undefined ? BigInt(resumeRaw) : processed;
        client.tradeMark = from;
        client.orderMark = from;
        const markets = client.marketId === null ? 'all' : [client.marketId];
        await push(from, markets, client.userId === null ? [] : [client.userId], [client]);
        clients.add(client);
      })
      .catch((err: unknown) => {
        app.log.warn({ err }, 'stream catch-up failed');
        res.end();
      });
  });
}
