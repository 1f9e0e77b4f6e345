/**
 * The `analytics` schema: versioned, documented views over the read models for analysts' SQL, and
 * the read-only role that may use them (and nothing else). See docs/analytics.md.
 *
 * Views run with their owner's rights, so the analyst role needs no right on the read-model schema
 * itself; it gets USAGE on `analytics` and SELECT on its views only. Event-store tables and
 * password hashes are out of its reach (the read models never hold a password hash at all).
 */
import { ident, literal, type Queryable } from './sql.ts';

/**
 * The views' version. 1: the first views. 2: `orders` gains the outcome of the order's latest amend
 * request (`amend_*`, read-model migration 2). A version is never changed once released: a change
 * is a new version, and installAnalytics moves an install of another version to it (the schema is
 * recreated, its grants restored).
 */
export const ANALYTICS_VERSION = 2;

interface ViewSpec {
  name: string;
  comment: string;
  sql: (rm: string) => string;
  columns: Record<string, string>;
}

const VIEWS: readonly ViewSpec[] = [
  {
    name: 'about',
    comment: 'Version of the analytics views and the read-model schema they read.',
    sql: (rm) => `select ${ANALYTICS_VERSION}::int as version, ${literal(rm.replace(/"/g, ''))}::text as read_model_schema`,
    columns: { version: 'Version of the analytics views (bumped on any incompatible change).', read_model_schema: 'Schema of the read models behind the views.' },
  },
  {
    name: 'projection_status',
    comment: 'How far the read models are: the last global event position applied and when.',
    sql: (rm) => `select position, updated_at from ${rm}.projection_checkpoint where name = 'readmodels'`,
    columns: { position: 'Last global event-log position folded into the read models.', updated_at: 'When the projector last moved the checkpoint.' },
  },
  {
    name: 'markets',
    comment: 'Listed markets with their trading parameters and last trade.',
    sql: (rm) => `select market_id, symbol, base_asset, quote_asset, tick_size, lot_size, maker_fee_bps, taker_fee_bps, status,
       current_price as last_price, last_trade_time, volume_24h, open_24h, listed_at from ${rm}.markets`,
    columns: {
      market_id: 'Market id (integer, assigned at listing).',
      symbol: 'Market symbol, e.g. BTC-USD.',
      base_asset: 'Asset bought and sold (quantities are in it).',
      quote_asset: 'Asset prices, notionals and fees are in.',
      tick_size: 'Price increment.',
      lot_size: 'Quantity increment.',
      maker_fee_bps: 'Fee charged to the resting (maker) side, in basis points of the notional.',
      taker_fee_bps: 'Fee charged to the incoming (taker) side, in basis points of the notional.',
      status: 'open or halted.',
      last_price: 'Price of the last trade (null before the first trade).',
      last_trade_time: 'Time of the last trade (UTC).',
      volume_24h: 'Base volume over the 24 h up to the last trade (1440 one-minute buckets).',
      open_24h: 'First price of that 24 h window.',
      listed_at: 'When the market was listed.',
    },
  },
  {
    name: 'users',
    comment: 'Registered users. Never contains credentials.',
    sql: (rm) => `select user_id, username, roles, registered_at from ${rm}.users`,
    columns: { user_id: 'User id.', username: 'Login name.', roles: 'Roles: trader, admin.', registered_at: 'When the user registered.' },
  },
  {
    name: 'balances',
    comment: 'Asset balances per user: available to trade and reserved by open orders.',
    sql: (rm) => `select user_id, asset, available, reserved, available + reserved as total, updated_at from ${rm}.balances`,
    columns: {
      user_id: 'Owner.',
      asset: 'Asset code.',
      available: 'Free to trade or withdraw.',
      reserved: 'Held for open orders.',
      total: 'available + reserved.',
      updated_at: 'Time of the last change.',
    },
  },
  {
    name: 'positions',
    comment: 'Positions per user and market, average-cost method, with unrealized PnL at the last trade price (quote asset, gross of fees).',
    sql: (rm) => `select p.user_id, p.market_id, m.symbol, p.quantity, p.average_price, p.cost_basis, p.realized_pnl,
       m.current_price as market_price,
       case when m.current_price is null then null else p.quantity * m.current_price - p.cost_basis end as unrealized_pnl,
       p.updated_at
  from ${rm}.positions p left join ${rm}.markets m on m.market_id = p.market_id`,
    columns: {
      user_id: 'Owner.',
      market_id: 'Market.',
      symbol: 'Market symbol.',
      quantity: 'Signed base quantity held (negative = short).',
      average_price: 'Average entry price of the open quantity (0 when flat).',
      cost_basis: 'Signed quote cost of the open quantity.',
      realized_pnl: 'Realized profit and loss in the quote asset, gross of fees.',
      market_price: 'Last trade price of the market.',
      unrealized_pnl: 'quantity × market_price − cost_basis, in the quote asset.',
      updated_at: 'Time of the last fill.',
    },
  },
  {
    name: 'orders',
    comment: 'Every order with its lifecycle status and fills.',
    sql: (rm) => `select o.order_id, o.user_id, o.market_id, m.symbol, o.client_order_id, o.side, o.type, o.time_in_force, o.post_only, o.price, o.quantity,
       o.filled_quantity, o.average_fill_price, o.status, o.reject_reason, o.cancel_reason, o.created_at, o.updated_at,
       o.amend_request_id, o.amend_status, o.amend_reject_reason, o.amend_price, o.amend_quantity
  from ${rm}.orders o left join ${rm}.markets m on m.market_id = o.market_id`,
    columns: {
      order_id: 'Order id.',
      user_id: 'Owner.',
      market_id: 'Market.',
      symbol: 'Market symbol.',
      client_order_id: 'The client’s own id, if given.',
      side: 'buy or sell.',
      type: 'limit or market.',
      time_in_force: 'GTC, IOC or FOK.',
      post_only: 'Whether the order may only add liquidity.',
      price: 'Limit price (null for market orders).',
      quantity: 'Ordered base quantity (after amendments).',
      filled_quantity: 'Base quantity filled so far.',
      average_fill_price: 'Volume-weighted average fill price (null before the first fill).',
      status: 'pending, open, partially_filled, filled, cancelled, rejected or expired.',
      reject_reason: 'Machine-readable reason of a rejection.',
      cancel_reason: 'Why it was cancelled: user, ioc_remainder, market_remainder, self_trade, kill_switch, ...',
      created_at: 'When the order was placed.',
      updated_at: 'Time of the last change.',
      amend_request_id: 'The order’s latest amend request (null: never amended). Only the latest request counts.',
      amend_status:
        'Outcome of that request: pending (not answered yet), applied (the book changed the order; an amend to no more than was filled ends it cancelled, cancel_reason user) or rejected (by risk or by the book, see amend_reject_reason).',
      amend_reject_reason: 'Why the amend was rejected: a risk reason, or the book’s (order_not_open when the order had ended meanwhile, post_only_would_take, ...).',
      amend_price: 'Limit price the amend asked for (the order’s where it left the price unchanged).',
      amend_quantity: 'New total quantity the amend asked for (the order’s where it left the quantity unchanged).',
    },
  },
  {
    name: 'fills',
    comment: 'One row per party of each trade (a trade has a maker fill and a taker fill).',
    sql: (rm) => `select t.trade_id, t.user_id, t.order_id, t.market_id, m.symbol, t.side, t.liquidity, t.trade_price as price, t.quantity, t.notional,
       t.fee, coalesce(t.fee_asset, m.quote_asset) as fee_asset, t.trade_time, (t.trade_time at time zone 'UTC')::date as trade_date
  from ${rm}.trades t left join ${rm}.markets m on m.market_id = t.market_id`,
    columns: {
      trade_id: 'Trade id (shared by the two fills of a trade).',
      user_id: 'The party.',
      order_id: 'The party’s order.',
      market_id: 'Market.',
      symbol: 'Market symbol.',
      side: 'buy or sell, from the party’s point of view.',
      liquidity: 'maker (resting order) or taker (incoming order).',
      price: 'Trade price.',
      quantity: 'Base quantity.',
      notional: 'Quote amount: price × quantity.',
      fee: 'Fee charged to the party.',
      fee_asset: 'Asset the fee was charged in.',
      trade_time: 'When the trade executed (UTC).',
      trade_date: 'UTC calendar day of the trade.',
    },
  },
  {
    name: 'trades',
    comment: 'The public trade tape: one row per trade.',
    sql: (rm) => `select t.trade_id, t.market_id, m.symbol, t.price, t.quantity, t.price * t.quantity as notional, t.taker_side, t.trade_time,
       (t.trade_time at time zone 'UTC')::date as trade_date
  from ${rm}.public_trades t left join ${rm}.markets m on m.market_id = t.market_id`,
    columns: {
      trade_id: 'Trade id.',
      market_id: 'Market.',
      symbol: 'Market symbol.',
      price: 'Trade price.',
      quantity: 'Base quantity.',
      notional: 'Quote amount: price × quantity.',
      taker_side: 'Side of the incoming order: buy means the trade lifted an ask.',
      trade_time: 'When the trade executed (UTC).',
      trade_date: 'UTC calendar day of the trade.',
    },
  },
  {
    name: 'candles',
    comment: 'OHLCV candles per market at 1m, 5m, 1h and 1d (UTC-aligned buckets).',
    sql: (rm) => `select c.market_id, m.symbol, c.interval, c.bucket_start, c.open, c.high, c.low, c.close, c.volume, c.quote_volume, c.trade_count
  from ${rm}.candles c left join ${rm}.markets m on m.market_id = c.market_id`,
    columns: {
      market_id: 'Market.',
      symbol: 'Market symbol.',
      interval: '1m, 5m, 1h or 1d.',
      bucket_start: 'Start of the bucket (UTC).',
      open: 'First trade price in the bucket.',
      high: 'Highest trade price.',
      low: 'Lowest trade price.',
      close: 'Last trade price.',
      volume: 'Base volume.',
      quote_volume: 'Quote volume (sum of price × quantity).',
      trade_count: 'Number of trades.',
    },
  },
  {
    name: 'daily_market_stats',
    comment: 'Per market and UTC day: trades, volume, quote volume, VWAP and the day’s OHLC.',
    sql: (rm) => `select c.market_id, m.symbol, (c.bucket_start at time zone 'UTC')::date as day, c.trade_count, c.volume, c.quote_volume,
       round(c.quote_volume / nullif(c.volume, 0), 12) as vwap, c.open, c.high, c.low, c.close
  from ${rm}.candles c left join ${rm}.markets m on m.market_id = c.market_id where c.interval = '1d'`,
    columns: {
      market_id: 'Market.',
      symbol: 'Market symbol.',
      day: 'UTC calendar day.',
      trade_count: 'Trades that day.',
      volume: 'Base volume that day.',
      quote_volume: 'Quote volume that day.',
      vwap: 'Volume-weighted average price: quote_volume / volume, rounded to 12 decimals.',
      open: 'First trade price of the day.',
      high: 'Highest trade price of the day.',
      low: 'Lowest trade price of the day.',
      close: 'Last trade price of the day.',
    },
  },
  {
    name: 'order_book',
    comment: 'Current aggregated order book (L2): resting quantity per market, side and price.',
    sql: (rm) => `select b.market_id, m.symbol, b.side, b.price, b.quantity, b.order_count
  from ${rm}.book_levels b left join ${rm}.markets m on m.market_id = b.market_id`,
    columns: {
      market_id: 'Market.',
      symbol: 'Market symbol.',
      side: 'buy (bids) or sell (asks).',
      price: 'Price level.',
      quantity: 'Resting base quantity at that level.',
      order_count: 'Resting orders at that level.',
    },
  },
  {
    name: 'kill_switches',
    comment: 'Kill switches by scope and their current state.',
    sql: (rm) => `select scope, market_id, user_id, engaged, reason, changed_by, changed_at from ${rm}.kill_switches`,
    columns: {
      scope: 'global, market or user.',
      market_id: 'Market of a market-scoped switch.',
      user_id: 'User of a user-scoped switch.',
      engaged: 'Whether the switch is engaged now.',
      reason: 'Reason given by the operator.',
      changed_by: 'Admin user who changed it.',
      changed_at: 'When it last changed.',
    },
  },
];

export const ANALYTICS_VIEWS: readonly string[] = VIEWS.map((v) => v.name);

export interface AnalyticsOptions {
  /** Read-model schema the views read (default `readmodel`). */
  readModelSchema?: string;
  /** Schema of the views (default `analytics`). */
  analyticsSchema?: string;
}

export async function analyticsInstalled(db: Queryable, analyticsSchema = 'analytics'): Promise<boolean> {
  const r = await db.query(`select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = 'about'`, [analyticsSchema]);
  return r.rowCount === 1;
}

/**
 * Creates or re-points the analytics views (idempotent; run it in the caller's transaction when
 * needed). Same version: `create or replace view`, which keeps grants. Another version: the schema
 * is dropped and recreated, and the roles that could use it get their grants back.
 */
export async function installAnalytics(db: Queryable, options: AnalyticsOptions = {}): Promise<void> {
  const rm = ident(options.readModelSchema ?? 'readmodel');
  const schemaName = options.analyticsSchema ?? 'analytics';
  const a = ident(schemaName);
  let grantees: string[] = [];
  if (await analyticsInstalled(db, schemaName)) {
    const v = await db.query<{ version: number }>(`select version from ${a}.about`);
    if (v.rows[0]?.version !== ANALYTICS_VERSION) {
      grantees = await analyticsGrantees(db, schemaName);
      await db.query(`drop schema ${a} cascade`);
    }
  }
  await db.query(`create schema if not exists ${a}`);
  await db.query(`comment on schema ${a} is ${literal(`Tradecore analytics views v${ANALYTICS_VERSION}: read-only, documented views over the read models. See docs/analytics.md.`)}`);
  for (const view of VIEWS) {
    await db.query(`create or replace view ${a}.${ident(view.name)} as ${view.sql(rm)}`);
    await db.query(`comment on view ${a}.${ident(view.name)} is ${literal(view.comment)}`);
    for (const [col, text] of Object.entries(view.columns)) {
      await db.query(`comment on column ${a}.${ident(view.name)}.${ident(col)} is ${literal(text)}`);
    }
  }
  for (const role of grantees) await grantAnalytics(db, role, schemaName);
}

async function analyticsGrantees(db: Queryable, analyticsSchema: string): Promise<string[]> {
  const r = await db.query<{ role: string }>(
    `select distinct r.rolname as role from pg_namespace n, aclexplode(n.nspacl) acl join pg_roles r on r.oid = acl.grantee
      where n.nspname = $1 and acl.privilege_type = 'USAGE' and not r.rolsuper`,
    [analyticsSchema],
  );
  return r.rows.map((x) => x.role);
}

async function grantAnalytics(db: Queryable, role: string, analyticsSchema: string): Promise<void> {
  await db.query(`grant usage on schema ${ident(analyticsSchema)} to ${ident(role)}`);
  await db.query(`grant select on all tables in schema ${ident(analyticsSchema)} to ${ident(role)}`);
}

export interface AnalystRoleOptions {
  /** Role name (default `tradecore_analyst`). */
  role?: string;
  /** With a password the role can log in; without one it is NOLOGIN (use it through SET ROLE or grant it). */
  password?: string | null;
  /** Per-statement limit for the role (default 30 s). */
  statementTimeoutMs?: number;
  analyticsSchema?: string;
}

/** Creates (or updates) the read-only analyst role: SELECT on the analytics views, nothing else. */
export async function ensureAnalystRole(db: Queryable, options: AnalystRoleOptions = {}): Promise<string> {
  const role = options.role ?? 'tradecore_analyst';
  const r = ident(role);
  const analyticsSchema = options.analyticsSchema ?? 'analytics';
  await db.query(`do $$ begin create role ${r}; exception when duplicate_object then null; end $$`);
  const login = options.password ? `login password ${literal(options.password)}` : 'nologin';
  await db.query(`alter role ${r} with ${login} nosuperuser nocreatedb nocreaterole noreplication nobypassrls`);
  await db.query(`alter role ${r} set default_transaction_read_only = on`);
  await db.query(`alter role ${r} set statement_timeout = ${literal(`${Math.max(1, Math.floor(options.statementTimeoutMs ?? 30_000))}ms`)}`);
  await db.query(`alter role ${r} set idle_in_transaction_session_timeout = '60s'`);
  await grantAnalytics(db, role, analyticsSchema);
  return role;
}
