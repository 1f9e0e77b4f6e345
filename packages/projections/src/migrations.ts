/**
 * Versioned, idempotent DDL of the read models. Every statement is schema-qualified so the same
 * migrations build the live schema (`readmodel`), a rebuild's shadow schema or an auditor's replay.
 * A migration runs once per schema (recorded in `schema_migrations`) under an advisory lock.
 */
import { ident, lockKeySql, type Queryable } from './sql.ts';

export interface Migration {
  version: number;
  description: string;
  sql(schema: string): string;
}

export const CHECKPOINT_NAME = 'readmodels';

export const migrations: readonly Migration[] = [
  {
    version: 1,
    description: 'read models: users, markets, orders, balances, positions, trades, tape, candles, L2 book, kill switches; checkpoint and errors',
    sql: (schema) => {
      const s = ident(schema);
      return `
create table ${s}.projection_checkpoint (
  name text primary key,
  position bigint not null,
  updated_at timestamptz not null default now()
);
insert into ${s}.projection_checkpoint (name, position) values ('${CHECKPOINT_NAME}', 0);

create table ${s}.projection_errors (
  position bigint primary key,
  event_id text not null,
  stream text not null,
  event_type text not null,
  schema_version int,
  kind text not null check (kind in ('schema', 'value', 'reference')),
  error text not null,
  recorded_at timestamptz not null default now()
);

create table ${s}.users (
  user_id int primary key,
  username text not null,
  roles text[] not null,
  registered_at timestamptz not null,
  last_position bigint not null
);

create table ${s}.markets (
  market_id int primary key,
  market_name text not null,
  symbol text not null,
  base_asset text not null,
  quote_asset text not null,
  tick_size numeric not null,
  lot_size numeric not null,
  reference_price numeric,
  maker_fee_bps int not null,
  taker_fee_bps int not null,
  status text not null check (status in ('open', 'halted')),
  current_price numeric,
  last_trade_time timestamptz,
  volume_24h numeric not null default 0,
  open_24h numeric,
  listed_at timestamptz not null,
  updated_at timestamptz not null,
  last_position bigint not null
);

create table ${s}.orders (
  order_id text primary key,
  user_id int not null,
  market_id int not null,
  client_order_id text,
  side text not null check (side in ('buy', 'sell')),
  type text not null check (type in ('limit', 'market')),
  time_in_force text not null,
  post_only boolean not null,
  price numeric,
  quantity numeric not null,
  filled_quantity numeric not null,
  filled_notional numeric not null,
  average_fill_price numeric,
  status text not null check (status in ('pending', 'open', 'partially_filled', 'filled', 'cancelled', 'rejected', 'expired')),
  reject_reason text,
  cancel_reason text,
  reserved_asset text,
  book_price numeric,
  book_quantity numeric not null,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  created_position bigint not null,
  last_position bigint not null
);
create index on ${s}.orders (user_id, created_position desc);
create index on ${s}.orders (user_id, market_id, created_position desc);
create index on ${s}.orders (user_id, last_position);

create table ${s}.balances (
  user_id int not null,
  asset text not null,
  available numeric not null,
  reserved numeric not null,
  updated_at timestamptz not null,
  last_position bigint not null,
  primary key (user_id, asset)
);

create table ${s}.positions (
  position_id text primary key,
  user_id int not null,
  market_id int not null,
  quantity numeric not null,
  cost_basis numeric not null,
  average_price numeric not null,
  realized_pnl numeric not null,
  updated_at timestamptz not null,
  last_position bigint not null,
  unique (user_id, market_id)
);

create table ${s}.trades (
  trade_id text not null,
  liquidity text not null check (liquidity in ('maker', 'taker')),
  user_id int not null,
  order_id text not null,
  market_id int not null,
  side text not null check (side in ('buy', 'sell')),
  trade_price numeric not null,
  quantity numeric not null,
  notional numeric not null,
  fee numeric not null,
  fee_asset text,
  executed boolean not null,
  settled boolean not null,
  trade_time timestamptz not null,
  position bigint not null,
  primary key (trade_id, liquidity)
);
create index on ${s}.trades (user_id, position desc, liquidity);
create index on ${s}.trades (user_id, market_id, position desc, liquidity);

create table ${s}.public_trades (
  trade_id text primary key,
  market_id int not null,
  price numeric not null,
  quantity numeric not null,
  taker_side text not null check (taker_side in ('buy', 'sell')),
  trade_time timestamptz not null,
  position bigint not null
);
create index on ${s}.public_trades (market_id, position desc);

create table ${s}.candles (
  market_id int not null,
  interval text not null check (interval in ('1m', '5m', '1h', '1d')),
  bucket_start timestamptz not null,
  open numeric not null,
  high numeric not null,
  low numeric not null,
  close numeric not null,
  volume numeric not null,
  quote_volume numeric not null,
  trade_count int not null,
  primary key (market_id, interval, bucket_start)
);

create table ${s}.book_levels (
  market_id int not null,
  side text not null check (side in ('buy', 'sell')),
  price numeric not null,
  quantity numeric not null,
  order_count int not null,
  primary key (market_id, side, price)
);

create table ${s}.kill_switches (
  switch_key text primary key,
  scope text not null check (scope in ('global', 'market', 'user')),
  market_id int,
  user_id int,
  engaged boolean not null,
  reason text not null,
  changed_by int not null,
  changed_at timestamptz not null,
  last_position bigint not null
);
`;
    },
  },
  {
    version: 2,
    description: "orders: the outcome of the order's latest amend request (pending, applied or rejected, with the reason)",
    sql: (schema) => {
      const s = ident(schema);
      // Forward only: the rows of an existing schema keep null (no amend seen) until a rebuild folds
      // the log again; a replay or rebuild creates the schema with every migration, so it has them.
      return `
alter table ${s}.orders
  add column amend_request_id text,
  add column amend_status text check (amend_status in ('pending', 'applied', 'rejected')),
  add column amend_reject_reason text,
  add column amend_price numeric,
  add column amend_quantity numeric;
`;
    },
  },
  {
    version: 3,
    description: 'orders: an amend to no more than was filled, whose order the book cancelled, is applied (it was left pending)',
    sql: (schema) => {
      const s = ident(schema);
      // Forward only, data alone: rows folded before this version by a fold that left such an amend
      // pending on the cancelled order get the outcome today's fold gives them (see OrderCancelled in
      // fold.ts), so the live schema equals a replay (tradectl diff) without a rebuild. An empty
      // schema (replay, rebuild) changes nothing.
      return `
update ${s}.orders set amend_status = 'applied'
 where amend_status = 'pending' and status = 'cancelled' and cancel_reason = 'user' and amend_quantity <= filled_quantity;
`;
    },
  },
];

export const LATEST_VERSION = migrations.reduce((m, x) => Math.max(m, x.version), 0);

/** Creates the schema if missing and applies every migration it has not seen, in one transaction. */
export async function migrateSchema(db: { connect(): Promise<Queryable & { release(): void }> }, schema: string): Promise<number[]> {
  const s = ident(schema);
  const client = await db.connect();
  const applied: number[] = [];
  try {
    await client.query('begin');
    await client.query(`select pg_advisory_xact_lock(${lockKeySql(`${schema}:migrate`)})`);
    await client.query(`create schema if not exists ${s}`);
    await client.query(
      `create table if not exists ${s}.schema_migrations (version int primary key, description text not null, applied_at timestamptz not null default now())`,
    );
    const done = await client.query<{ version: number }>(`select version from ${s}.schema_migrations`);
    const have = new Set(done.rows.map((r) => r.version));
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (have.has(m.version)) continue;
      await client.query(m.sql(schema));
      await client.query(`insert into ${s}.schema_migrations (version, description) values ($1, $2)`, [m.version, m.description]);
      applied.push(m.version);
    }
    await client.query('commit');
    return applied;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
