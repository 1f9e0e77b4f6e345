/**
 * The read side's SQL. Every query reads the projection checkpoint in the same statement as the
 * data, so the position a response reports is the one its data reflects (one snapshot). Numerics
 * leave PostgreSQL as text (`trim_scale(x)::text`): exact decimal strings, no floating point.
 */
import { CHECKPOINT_NAME, ident } from '@tradecore/projections';

const ISO = (col: string) => `to_char(${col} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const DEC = (col: string) => `trim_scale(${col})::text`;

export function queries(schemaName: string) {
  const s = ident(schemaName);
  const cp = `${s}.projection_checkpoint cp`;
  const cpWhere = `cp.name = '${CHECKPOINT_NAME}'`;
  /** Rows of `inner`, each with the checkpoint; one all-null row (but the position) when empty. */
  const withPosition = (inner: string) => `select cp.position::text as __position, x.* from ${cp} left join lateral (${inner}) x on true where ${cpWhere}`;

  const marketJson = `json_build_object(
      'marketId', m.market_id, 'symbol', m.symbol, 'baseAsset', m.base_asset, 'quoteAsset', m.quote_asset,
      'tickSize', ${DEC('m.tick_size')}, 'lotSize', ${DEC('m.lot_size')}, 'currentPrice', ${DEC('m.current_price')},
      'referencePrice', ${DEC('m.reference_price')}, 'status', m.status,
      'lastTradeTime', ${ISO('m.last_trade_time')}, 'volume24h', ${DEC('coalesce(st.volume, 0)')}, 'open24h', ${DEC('st.open')},
      'makerFeeBps', m.maker_fee_bps, 'takerFeeBps', m.taker_fee_bps)`;
  // Trailing 24 h at request time ($1 = now): the one-minute candles of the last 1440 minutes.
  const stats = `left join lateral (
      select sum(c.volume) as volume, (array_agg(c.open order by c.bucket_start))[1] as open
        from ${s}.candles c
       where c.market_id = m.market_id and c.interval = '1m'
         and c.bucket_start > date_trunc('minute', $1::timestamptz) - interval '1 day' and c.bucket_start <= $1::timestamptz) st on true`;

  const order = `o.order_id, o.client_order_id, o.market_id, o.side, o.type, o.time_in_force, ${DEC('o.price')} as price, ${DEC('o.quantity')} as quantity,
      ${DEC('o.filled_quantity')} as filled_quantity, ${DEC('o.average_fill_price')} as average_fill_price, o.status, o.reject_reason, o.cancel_reason,
      o.amend_request_id, o.amend_status, o.amend_reject_reason, ${DEC('o.amend_price')} as amend_price, ${DEC('o.amend_quantity')} as amend_quantity,
      ${ISO('o.created_at')} as created_at, ${ISO('o.updated_at')} as updated_at, o.created_position::text as created_position, o.last_position::text as last_position`;

  return {
    checkpoint: `select position::text as position from ${s}.projection_checkpoint where name = '${CHECKPOINT_NAME}'`,
    /** $1 now → { __position, body: JSON array text } */
    markets: `select cp.position::text as __position,
        coalesce((select json_agg(${marketJson} order by m.market_id) from ${s}.markets m ${stats}), '[]')::text as body
      from ${cp} where ${cpWhere}`,
    /** $1 now, $2 marketId → { __position, body: JSON object text or null } */
    market: `select cp.position::text as __position,
        (select ${marketJson} from ${s}.markets m ${stats} where m.market_id = $2)::text as body
      from ${cp} where ${cpWhere}`,
    /** $1 marketId, $2 depth → { __position, body } */
    book: `select cp.position::text as __position,
        (select json_build_object('marketId', m.market_id,
           'bids', coalesce((select json_agg(json_build_object('price', ${DEC('b.price')}, 'quantity', ${DEC('b.quantity')}, 'orderCount', b.order_count) order by b.price desc)
                               from (select * from ${s}.book_levels where market_id = m.market_id and side = 'buy' order by price desc limit $2) b), '[]'),
           'asks', coalesce((select json_agg(json_build_object('price', ${DEC('a.price')}, 'quantity', ${DEC('a.quantity')}, 'orderCount', a.order_count) order by a.price asc)
                               from (select * from ${s}.book_levels where market_id = m.market_id and side = 'sell' order by price asc limit $2) a), '[]'))
           from ${s}.markets m where m.market_id = $1)::text as body
      from ${cp} where ${cpWhere}`,
    marketExists: `select 1 from ${s}.markets where market_id = $1`,
    /** $1 marketId, $2 limit, $3 cursor position (exclusive) or null */
    tape: withPosition(`select t.trade_id, ${DEC('t.price')} as price, ${DEC('t.quantity')} as quantity, t.taker_side, ${ISO('t.trade_time')} as trade_time, t.position::text as position
        from ${s}.public_trades t where t.market_id = $1 and ($3::bigint is null or t.position < $3::bigint) order by t.position desc limit $2`),
    /** $1 marketId, $2 interval, $3 from or null, $4 to, $5 limit */
    candles: withPosition(`select ${ISO('c.bucket_start')} as time, ${DEC('c.open')} as open, ${DEC('c.high')} as high, ${DEC('c.low')} as low, ${DEC('c.close')} as close,
        ${DEC('c.volume')} as volume, ${DEC('c.quote_volume')} as quote_volume, c.trade_count
        from ${s}.candles c where c.market_id = $1 and c.interval = $2 and ($3::timestamptz is null or c.bucket_start >= $3::timestamptz) and c.bucket_start <= $4::timestamptz
        order by c.bucket_start desc limit $5`),
    /** $1 userId, $2 marketId|null, $3 statuses|null, $4 cursor|null, $5 limit */
    orders: withPosition(`select ${order} from ${s}.orders o
        where o.user_id = $1 and ($2::int is null or o.market_id = $2::int) and ($3::text[] is null or o.status = any($3::text[]))
          and ($4::bigint is null or o.created_position < $4::bigint)
        order by o.created_position desc limit $5`),
    /** $1 userId, $2 orderId */
    order: withPosition(`select ${order} from ${s}.orders o where o.user_id = $1 and o.order_id = $2`),
    /** $1 userIds[], $2 after position: orders changed since (SSE) */
    ordersChanged: `select o.user_id, ${order} from ${s}.orders o where o.user_id = any($1::int[]) and o.last_position > $2::bigint order by o.last_position limit 1000`,
    /** $1 userId, $2 marketId|null, $3 cursor position|null, $4 cursor liquidity|null, $5 limit */
    fills: withPosition(`select t.trade_id, t.order_id, t.market_id, t.side, ${DEC('t.trade_price')} as price, ${DEC('t.quantity')} as quantity, ${DEC('t.fee')} as fee,
        t.fee_asset, t.liquidity, ${ISO('t.trade_time')} as trade_time, t.position::text as position
        from ${s}.trades t
       where t.user_id = $1 and ($2::int is null or t.market_id = $2::int)
         and ($3::bigint is null or (t.position, t.liquidity) < ($3::bigint, $4::text))
       order by t.position desc, t.liquidity desc limit $5`),
    /** $1 userId → { __position, body, markets: the markets its PnL depends on } */
    portfolio: `select cp.position::text as __position, json_build_object('userId', $1::int,
        'balances', coalesce((select json_agg(json_build_object('asset', b.asset, 'available', ${DEC('b.available')}, 'reserved', ${DEC('b.reserved')}) order by b.asset)
                                from ${s}.balances b where b.user_id = $1), '[]'),
        'positions', coalesce((select json_agg(json_build_object('marketId', p.market_id, 'symbol', m.symbol, 'quantity', ${DEC('p.quantity')},
                                  'averagePrice', ${DEC('p.average_price')}, 'realizedPnl', ${DEC('p.realized_pnl')},
                                  'unrealizedPnl', case when m.current_price is null then null else ${DEC('p.quantity * m.current_price - p.cost_basis')} end,
                                  'marketPrice', ${DEC('m.current_price')}) order by p.market_id)
                                 from ${s}.positions p left join ${s}.markets m on m.market_id = p.market_id where p.user_id = $1), '[]'))::text as body,
        coalesce((select array_agg(p.market_id) from ${s}.positions p where p.user_id = $1), '{}') as markets
      from ${cp} where ${cpWhere}`,
    /** $1 marketIds[], $2 after position: tape rows since (SSE) */
    tapeSince: `select t.market_id, t.trade_id, ${DEC('t.price')} as price, ${DEC('t.quantity')} as quantity, t.taker_side, ${ISO('t.trade_time')} as trade_time, t.position::text as position
        from ${s}.public_trades t where ($1::int[] is null or t.market_id = any($1::int[])) and t.position > $2::bigint order by t.position limit 1000`,
    marketIds: `select market_id from ${s}.markets order by market_id`,
  };
}

export type Queries = ReturnType<typeof queries>;

export interface OrderDbRow {
  order_id: string;
  client_order_id: string | null;
  market_id: number;
  side: string;
  type: string;
  time_in_force: string;
  price: string | null;
  quantity: string;
  filled_quantity: string;
  average_fill_price: string | null;
  status: string;
  reject_reason: string | null;
  cancel_reason: string | null;
  amend_request_id: string | null;
  amend_status: string | null;
  amend_reject_reason: string | null;
  amend_price: string | null;
  amend_quantity: string | null;
  created_at: string;
  updated_at: string;
  created_position: string;
  last_position: string;
}

/**
 * The contract's `Order` plus `cancelReason` and `amend`: the outcome of the order's latest amend
 * request (null: never amended), since a `PATCH` is answered 202 before risk and the book decide:
 * `status` pending | applied | rejected, `rejectReason` when rejected, `price`/`quantity` the terms
 * it asked for. An amend to no more than was filled ends the order cancelled and is applied; an order
 * that ends another way meanwhile has its amend refused (order_not_open), so none stays pending.
 */
export function orderJson(o: OrderDbRow) {
  return {
    orderId: o.order_id,
    clientOrderId: o.client_order_id,
    marketId: o.market_id,
    side: o.side,
    type: o.type,
    timeInForce: o.time_in_force,
    price: o.price,
    quantity: o.quantity,
    filledQuantity: o.filled_quantity,
    averageFillPrice: o.average_fill_price,
    status: o.status,
    rejectReason: o.reject_reason,
    cancelReason: o.cancel_reason,
    amend:
      o.amend_request_id === null
        ? null
        : { requestId: o.amend_request_id, status: o.amend_status, rejectReason: o.amend_reject_reason, price: o.amend_price, quantity: o.amend_quantity },
    createdAt: o.created_at,
    updatedAt: o.updated_at,
  };
}
