/**
 * Reconciliation after a run, in SQL (PostgreSQL numeric: exact), over the read models (schema
 * `readmodel`) and, independently of the projections, over the event store itself:
 *
 * - conservation per asset: Σ deposits (FundsDeposited events) = Σ over accounts of
 *   available + reserved (read model) + fees collected (settled fills in the read model), and the
 *   fees in the read model equal the fees in the FillSettled events;
 * - per account and asset: available + reserved in the read model = the fold of the account's
 *   FundsDeposited and FillSettled events (buyer: +quantity base, −(notional + fee) quote;
 *   seller: −quantity base, +(notional − fee) quote);
 * - every position equals the signed sum of its settled fills, both in the read model and in the
 *   FillSettled events;
 * - no negative balance; every trade both executed and settled on both sides; no order left
 *   `pending`; no order left open after a cancel request for it was accepted; no projection
 *   errors; the projection checkpoint at the head of the log.
 *
 * With `expectNoOpenOrders` (after the generator cancelled everything it knows), also: no open
 * order, and nothing reserved.
 */
import type pg from 'pg';

export interface ReconcileOptions {
  storeSchema?: string;
  readSchema?: string;
  /** Only these users' accounts (e.g. the run's traders); default: all. */
  userIds?: readonly number[];
  expectNoOpenOrders?: boolean;
  /** How many example rows to keep per failed check. */
  examples?: number;
}

export interface AssetLine {
  asset: string;
  deposits: string;
  available: string;
  reserved: string;
  feesReadModel: string;
  feesEvents: string;
  /** deposits − (available + reserved + fees): "0" when conserved. */
  difference: string;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  examples?: unknown[];
}

export interface Reconciliation {
  ok: boolean;
  checks: Check[];
  assets: AssetLine[];
  counts: { orders: number; ordersPlacedEvents: number; trades: number; positions: number; accounts: number };
}

const NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function q(schema: string): string {
  if (!NAME.test(schema)) throw new RangeError(`bad schema name ${JSON.stringify(schema)}`);
  return `"${schema}"`;
}

/** The SQL, exported for reading and for the tests. `$1` is an int[] of user ids or null (all). */
export function reconciliationSql(storeSchema = 'event_store', readSchema = 'readmodel') {
  const es = q(storeSchema);
  const rm = q(readSchema);
  const users = (col: string) => `($1::int[] is null or ${col} = any($1::int[]))`;
  return {
    assets: `
with deposits as (
  select data->>'asset' as asset, sum((data->>'amount')::numeric) as amount
  from ${es}.events where type = 'FundsDeposited' and ${users(`(data->>'userId')::int`)} group by 1),
balances as (
  select asset, sum(available) as available, sum(reserved) as reserved
  from ${rm}.balances where ${users('user_id')} group by 1),
fees as (
  select fee_asset as asset, sum(fee) as fees from ${rm}.trades
  where settled and fee_asset is not null and ${users('user_id')} group by 1),
event_fees as (
  select data->>'feeAsset' as asset, sum((data->>'fee')::numeric) as fees
  from ${es}.events where type = 'FillSettled' and ${users(`(data->>'userId')::int`)} group by 1)
select asset,
       coalesce(d.amount, 0)::text as deposits,
       coalesce(b.available, 0)::text as available,
       coalesce(b.reserved, 0)::text as reserved,
       coalesce(f.fees, 0)::text as fees_readmodel,
       coalesce(ef.fees, 0)::text as fees_events,
       (coalesce(d.amount, 0) - coalesce(b.available, 0) - coalesce(b.reserved, 0) - coalesce(f.fees, 0))::text as difference,
       coalesce(d.amount, 0) = coalesce(b.available, 0) + coalesce(b.reserved, 0) + coalesce(f.fees, 0) as conserved,
       coalesce(f.fees, 0) = coalesce(ef.fees, 0) as fees_agree
from deposits d full join balances b using (asset) full join fees f using (asset) full join event_fees ef using (asset)
order by asset`,
    accounts: `
with fills as (
  select (data->>'userId')::int as user_id, data->>'side' as side, data->>'baseAsset' as base, data->>'quoteAsset' as quote,
         (data->>'quantity')::numeric as qty, (data->>'notional')::numeric as notional, (data->>'fee')::numeric as fee
  from ${es}.events where type = 'FillSettled' and ${users(`(data->>'userId')::int`)}),
flows as (
  select (data->>'userId')::int as user_id, data->>'asset' as asset, (data->>'amount')::numeric as amount
  from ${es}.events where type = 'FundsDeposited' and ${users(`(data->>'userId')::int`)}
  union all
  select user_id, base, case when side = 'buy' then qty else -qty end from fills
  union all
  select user_id, quote, case when side = 'buy' then -(notional + fee) else notional - fee end from fills),
expected as (select user_id, asset, sum(amount) as total from flows group by 1, 2),
actual as (select user_id, asset, available + reserved as total from ${rm}.balances where ${users('user_id')})
select coalesce(e.user_id, a.user_id) as user_id, coalesce(e.asset, a.asset) as asset,
       coalesce(e.total, 0)::text as from_events, coalesce(a.total, 0)::text as read_model
from expected e full join actual a on a.user_id = e.user_id and a.asset = e.asset
where coalesce(e.total, 0) <> coalesce(a.total, 0)
order by 1, 2`,
    positionsReadModel: `
with f as (
  select user_id, market_id, sum(case when side = 'buy' then quantity else -quantity end) as qty
  from ${rm}.trades where settled and ${users('user_id')} group by 1, 2)
select coalesce(f.user_id, p.user_id) as user_id, coalesce(f.market_id, p.market_id) as market_id,
       coalesce(f.qty, 0)::text as fills, coalesce(p.quantity, 0)::text as position
from f full join (select * from ${rm}.positions where ${users('user_id')}) p on p.user_id = f.user_id and p.market_id = f.market_id
where coalesce(f.qty, 0) <> coalesce(p.quantity, 0)
order by 1, 2`,
    positionsEvents: `
with f as (
  select (data->>'userId')::int as user_id, (data->>'marketId')::int as market_id,
         sum(case when data->>'side' = 'buy' then (data->>'quantity')::numeric else -(data->>'quantity')::numeric end) as qty
  from ${es}.events where type = 'FillSettled' and ${users(`(data->>'userId')::int`)} group by 1, 2)
select coalesce(f.user_id, p.user_id) as user_id, coalesce(f.market_id, p.market_id) as market_id,
       coalesce(f.qty, 0)::text as fills, coalesce(p.quantity, 0)::text as position
from f full join (select * from ${rm}.positions where ${users('user_id')}) p on p.user_id = f.user_id and p.market_id = f.market_id
where coalesce(f.qty, 0) <> coalesce(p.quantity, 0)
order by 1, 2`,
    negativeBalances: `select user_id, asset, available::text, reserved::text from ${rm}.balances where (available < 0 or reserved < 0) and ${users('user_id')} order by 1, 2`,
    unsettledTrades: `
select trade_id, liquidity, user_id, executed, settled from ${rm}.trades
where not (executed and settled) and ${users('user_id')}
union all
select t.trade_id, 'missing ' || case when t.liquidity = 'maker' then 'taker' else 'maker' end, t.user_id, false, false
from ${rm}.trades t
where ${users('t.user_id')} and (select count(*) from ${rm}.trades u where u.trade_id = t.trade_id) <> 2
order by 1, 2`,
    pendingOrders: `select order_id, user_id, status from ${rm}.orders where status = 'pending' and ${users('user_id')} order by created_position`,
    openOrders: `select order_id, user_id, status from ${rm}.orders where status in ('open', 'partially_filled') and ${users('user_id')} order by created_position`,
    lostCancels: `
select o.order_id, o.user_id, o.status from ${rm}.orders o
where o.status in ('open', 'partially_filled') and ${users('o.user_id')}
  and exists (select 1 from ${es}.events e where e.stream = 'order-' || o.order_id and e.type = 'OrderCancelRequested')
order by o.created_position`,
    reserved: `select user_id, asset, reserved::text from ${rm}.balances where reserved <> 0 and ${users('user_id')} order by 1, 2`,
    projectionErrors: `select position::text, event_type, kind, error from ${rm}.projection_errors order by position`,
    positions: `
select (select position from ${rm}.projection_checkpoint where name = 'readmodels')::text as checkpoint,
       (select max(position) from ${es}.events)::text as head`,
    counts: `
select (select count(*) from ${rm}.orders where ${users('user_id')})::int as orders,
       (select count(*) from ${es}.events where type = 'OrderPlaced' and ${users(`(data->>'userId')::int`)})::int as placed,
       (select count(*) from ${rm}.trades where ${users('user_id')})::int as trades,
       (select count(*) from ${rm}.positions where ${users('user_id')})::int as positions,
       (select count(distinct user_id) from ${rm}.balances where ${users('user_id')})::int as accounts`,
  };
}

export async function reconcile(db: Pick<pg.Pool, 'query'>, options: ReconcileOptions = {}): Promise<Reconciliation> {
  const sql = reconciliationSql(options.storeSchema, options.readSchema);
  const params = [options.userIds ? [...options.userIds] : null];
  const keep = options.examples ?? 5;
  const checks: Check[] = [];
  const rowsOf = async <T extends pg.QueryResultRow>(text: string, p: unknown[] = params): Promise<T[]> => (await db.query<T>(text, p)).rows;
  const none = async (name: string, text: string, what: string, p?: unknown[]) => {
    const rows = await rowsOf(text, p);
    checks.push({ name, ok: rows.length === 0, detail: rows.length === 0 ? `no ${what}` : `${rows.length} ${what}`, ...(rows.length ? { examples: rows.slice(0, keep) } : {}) });
  };

  const assetRows = await rowsOf<{ asset: string; deposits: string; available: string; reserved: string; fees_readmodel: string; fees_events: string; difference: string; conserved: boolean; fees_agree: boolean }>(sql.assets);
  const assets: AssetLine[] = assetRows.map((r) => ({
    asset: r.asset,
    deposits: r.deposits,
    available: r.available,
    reserved: r.reserved,
    feesReadModel: r.fees_readmodel,
    feesEvents: r.fees_events,
    difference: r.difference,
  }));
  const unconserved = assetRows.filter((r) => !r.conserved);
  checks.push({
    name: 'assets conserved',
    ok: unconserved.length === 0 && assetRows.length > 0,
    detail:
      assetRows.length === 0
        ? 'no deposits at all'
        : unconserved.length === 0
          ? `${assetRows.length} assets: deposits = available + reserved + fees`
          : `${unconserved.length} of ${assetRows.length} assets differ: ${unconserved.map((r) => `${r.asset} ${r.difference}`).join(', ')}`,
  });
  const feeDisagree = assetRows.filter((r) => !r.fees_agree);
  checks.push({
    name: 'fees: read model = events',
    ok: feeDisagree.length === 0,
    detail: feeDisagree.length === 0 ? 'fees agree' : feeDisagree.map((r) => `${r.asset}: read model ${r.fees_readmodel}, events ${r.fees_events}`).join('; '),
  });
  await none('accounts = fold of their events', sql.accounts, 'account balances differing from their FundsDeposited + FillSettled events');
  await none('positions = Σ fills (read model)', sql.positionsReadModel, 'positions differing from their settled fills');
  await none('positions = Σ fills (events)', sql.positionsEvents, 'positions differing from their FillSettled events');
  await none('no negative balance', sql.negativeBalances, 'negative balances');
  await none('every trade executed and settled on both sides', sql.unsettledTrades, 'unsettled or one-sided trades');
  await none('no order left pending', sql.pendingOrders, 'orders still pending');
  await none('no cancelled order left open', sql.lostCancels, 'orders still open although a cancel was accepted (202) for them');
  await none('no projection errors', sql.projectionErrors, 'projection errors', []);
  if (options.expectNoOpenOrders) {
    await none('no open order after the drain', sql.openOrders, 'orders still open');
    await none('nothing reserved after the drain', sql.reserved, 'balances with a reservation');
  }
  const pos = (await rowsOf<{ checkpoint: string | null; head: string | null }>(sql.positions, []))[0];
  const atHead = pos !== undefined && pos.checkpoint !== null && (pos.head === null || BigInt(pos.checkpoint) >= BigInt(pos.head));
  checks.push({ name: 'projection checkpoint at the head', ok: atHead, detail: `checkpoint ${pos?.checkpoint ?? 'none'}, head ${pos?.head ?? 'none'}` });
  const c = (await rowsOf<{ orders: number; placed: number; trades: number; positions: number; accounts: number }>(sql.counts))[0]!;
  checks.push({ name: 'every OrderPlaced has a read-model order', ok: c.orders === c.placed, detail: `${c.placed} OrderPlaced events, ${c.orders} read-model orders` });
  return {
    ok: checks.every((x) => x.ok),
    checks,
    assets,
    counts: { orders: c.orders, ordersPlacedEvents: c.placed, trades: c.trades, positions: c.positions, accounts: c.accounts },
  };
}
