/**
 * `tradectl redrive <eventId>`: re-applies a market fact the risk handler dead-lettered (its account
 * decider threw on it every time) to the accounts it concerns, once the defect is fixed.
 *
 * The risk handler answers a trader's request it could not decide (engine_error), but a market fact —
 * a `TradeExecuted` to settle, an `OrderCancelled` / `OrderExpired` / `OrderRejectedByEngine` to
 * release, an `OrderAmended` / `OrderAmendRejectedByEngine` — already happened on the book: it stays
 * dead-lettered, and redelivery does not help once the account has decided a later input (the
 * runner skips inputs at or below the account's `lastInputPosition`). This command runs, for each
 * account the input concerns, the risk handler's decision for that input against the account's
 * current state, and appends it — exactly as the live handler would have:
 *
 *  - the command is built as the risk handler builds it (engine `risk-handler.ts`): the input
 *    parsed from the log, `inputPosition` = its global position, `inputAt` = its
 *    `metadata.occurredAt` (else recorded time), the control view as of just before it;
 *  - the decider sees the account with its watermark set just below the input: only the ordering
 *    check (`inputPosition <= lastInputPosition` → nothing) is bypassed; every other check of the
 *    decider stands (the market in the control view, the order open on the account, the parties);
 *  - event ids are the live handler's: UUIDv5 of (input event id, account stream, index) in the
 *    engine's namespace (engine `ids.ts`), and the metadata is the handler's (`decisionMetadata`:
 *    correlation copied, causation = the input, `inputPosition`, `inputAt`) plus `redrive: true`;
 *  - the append names the account's revision as loaded: a concurrent writer (the risk handler
 *    deciding the next input, a redelivery of this one, a deposit) makes it fail, and the account
 *    is reloaded and judged again. One concurrent write does not fail it: the same decision (the
 *    same derived ids) appended right after the loaded revision — a redelivery to the fixed handler,
 *    another redrive — which the store takes as an idempotent retry of redrive's append and answers
 *    with success, writing nothing. So after an append redrive reads back the events at the
 *    revisions it named and reports the input already applied when they are not its own (another
 *    writer's metadata: the handler's has no `redrive` mark; another redrive's has its own
 *    `occurredAt`). Two redrives whose clocks read the same millisecond write identical events and
 *    cannot be told apart: both report them appended (they are in the stream once).
 *
 * Refused, with nothing appended:
 *  - the account already applied the input: an event of its stream carries one of the derived ids,
 *    or records this input's position as its `inputPosition` (any writer of the decision records it)
 *    → exit 3, as when the account has nothing to apply for it (the order is no longer open there:
 *    its close already released what the input would have);
 *  - an applied amend (`OrderAmended`) of an order still open, when a later applied amend of it was
 *    already applied: that one set the order's terms and trimmed its reservation to them, so this
 *    one has nothing left to apply (exit 3, `nothing_to_apply`);
 *  - the decider still throws on it → exit 4.
 *
 * A fact overtaken by later fills of the same, still open order is settled late: those fills
 * carried the order's remaining quantity as the market knew it after this fact, so the account's
 * order already counts it. A fill (`TradeExecuted`): the command names those orders
 * (`lateOrders`); the decider frees what each holds beyond what its terms need (the fill's share;
 * nothing when an applied amend already trimmed it), keeps the remaining, and marks the
 * `FillSettled` `late: true`. An applied amend (`OrderAmended`, `late: true`): its price and
 * quantity apply, the remaining stays, the reservation beyond the new terms is released
 * (core-domain's account decider; docs/events.md).
 *
 * Why the rest is correct out of order: balances are additive (a settlement moves notional and fee
 * between available and the other asset, a release moves reserved to available), the account's
 * other orders do not enter a settlement or release of this one, and evolve keeps the highest
 * `inputPosition` it saw (the appended decision does not lower the watermark). An order whose
 * close (its last fill, a cancel) was applied released all it held: the late fill is paid from
 * available (the decider frees no reservation for an order no longer open), with the same totals.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  accountDecider,
  evolveAccount,
  type AccountCommand,
  type AccountDecider,
  type AccountState,
  type ControlState,
  type TradecoreEvent,
} from '@tradecore/core-domain';
import { accountsOfMarketFact, decisionMetadata, derivedEventId, isMarketFact, marketFactCommand, MARKET_FACT_TYPES, type Clock, type MarketFactType } from '@tradecore/engine/decisions';
import { IdempotencyConflictError, WrongExpectedRevisionError, type EventMetadata, type NewEvent, type RecordedEvent } from '@tradecore/event-store';
import type { Connection } from '../connect.ts';
import { badData, CliError, ExitCode, notFound, unavailable, usage } from '../errors.ts';
import { rec } from '../filter.ts';
import type { Output } from '../io.ts';
import { EVENT_SELECT, parseLogged, readStreamPaged, rowToEvent, scan, VISIBLE_BOUND_SQL } from '../log.ts';
import { controlAt } from './recheck.ts';

/** The market's facts the risk handler applies to an account: what can be redriven. */
export const REDRIVABLE_TYPES = MARKET_FACT_TYPES;
const TRADER_REQUESTS = new Set(['OrderPlaced', 'OrderAmendRequested', 'OrderCancelRequested']);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type { Clock };

export type AccountOutcome =
  /** The decision was appended (or, with --dry-run, would be). */
  | 'appended'
  | 'would_append'
  /** The account's stream already holds the input's decision. */
  | 'already_applied'
  /** The decider decides nothing for it now (e.g. the order is no longer open on the account). */
  | 'nothing_to_apply'
  /** Not applied: the decider still throws on it. */
  | 'refused';

export interface AccountRedrive {
  userId: number;
  stream: string;
  outcome: AccountOutcome;
  /** Why, in words (for every outcome but appended / would_append). */
  reason?: string;
  /** The events appended / that would be appended. */
  events: { eventId: string; type: string; data: unknown; metadata: EventMetadata }[];
  /** already_applied: the event of the stream that shows it. */
  appliedBy?: { eventId: string; type: string; position: string };
  /** The account's revision the decision was judged against (-1: no stream). */
  revision: string;
}

export interface RedriveResult {
  input: { eventId: string; type: string; stream: string; position: string };
  dryRun: boolean;
  accounts: AccountRedrive[];
}

export interface RedriveOptions {
  /** Only this party of the input (a trade concerns its taker and its maker). */
  userId?: number;
  dryRun?: boolean;
  clock: Clock;
  /** The account decider (default core-domain's); tests inject one that throws. */
  decider?: AccountDecider;
  /** Reload-and-judge-again rounds on a concurrent write before giving up. Default 10. */
  conflictAttempts?: number;
}

function metaPosition(m: unknown): bigint | null {
  const v = rec(m).inputPosition;
  if (typeof v === 'string' && /^\d+$/.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  return null;
}

/** The input event with this id, or undefined (readers' view: below the visible bound). */
export async function findEvent(conn: Connection, eventId: string): Promise<RecordedEvent | undefined> {
  if (conn.kind === 'postgres') {
    const r = await conn.pool.query(`select ${EVENT_SELECT} from "${conn.schema}".events e where e.event_id = $1::uuid and e.position < ${VISIBLE_BOUND_SQL}`, [eventId]);
    const row = r.rows[0] as Parameters<typeof rowToEvent>[0] | undefined;
    return row ? rowToEvent(row) : undefined;
  }
  for await (const e of scan(conn, {})) if (e.eventId.toLowerCase() === eventId.toLowerCase()) return e;
  return undefined;
}

/** The handler's metadata for a decision of `source`, marked as redriven. */
function redriveMetadata(source: RecordedEvent, clock: Clock): EventMetadata {
  return { ...decisionMetadata(source, clock), redrive: true };
}

/**
 * The orders of this account whose recorded remaining quantity the input's decision takes from the
 * input itself (a fill's remaining, an amend's terms): a later fact about them, applied while they
 * are still open, already counts this input.
 */
function ordersTakingRemaining(ev: TradecoreEvent, userId: number): string[] {
  if (ev.type === 'TradeExecuted') {
    const out: string[] = [];
    if (ev.data.takerUserId === userId) out.push(ev.data.takerOrderId);
    if (ev.data.makerUserId === userId) out.push(ev.data.makerOrderId);
    return out;
  }
  if (ev.type === 'OrderAmended') return [ev.data.orderId];
  return [];
}

/**
 * The command for a fact that later fills of `orders` (still open) overtook, settled late by
 * core-domain: a fill frees its share of the reservation, an applied amend sets its terms; the
 * remaining quantity stays as the later fill set it. Other commands take no remaining from the input.
 */
function settledLate(command: AccountCommand, orders: readonly string[]): AccountCommand {
  switch (command.kind) {
    case 'SettleTrade':
      return { ...command, lateOrders: orders };
    case 'ApplyAmend':
      return { ...command, late: true };
    default:
      return command;
  }
}

interface Loaded {
  state: AccountState;
  revision: bigint;
  appliedBy?: RecordedEvent;
  /** Per order: the first later market fact (fill, applied amend) the account applied about it. */
  laterFacts: Map<string, RecordedEvent>;
  /** Per order: the first later applied amend, when there is one. */
  laterAmends: Map<string, RecordedEvent>;
}

async function loadAccount(conn: Connection, stream: string, input: RecordedEvent, derivedIds: ReadonlySet<string>): Promise<Loaded> {
  let state = accountDecider.initialState();
  let revision = -1n;
  let appliedBy: RecordedEvent | undefined;
  const laterFacts = new Map<string, RecordedEvent>();
  const laterAmends = new Map<string, RecordedEvent>();
  for await (const e of readStreamPaged(conn, stream)) {
    const position = metaPosition(e.metadata);
    if (!appliedBy && (derivedIds.has(e.eventId.toLowerCase()) || position === input.globalPosition)) appliedBy = e;
    if (position !== null && position > input.globalPosition) {
      const d = rec(e.data);
      const amend = e.type === 'ReservationReleased' && d.cause === 'amended';
      if ((amend || e.type === 'FillSettled') && typeof d.orderId === 'string') {
        if (!laterFacts.has(d.orderId)) laterFacts.set(d.orderId, e);
        if (amend && !laterAmends.has(d.orderId)) laterAmends.set(d.orderId, e);
      }
    }
    const m = rec(e.metadata);
    state = evolveAccount(state, parseLogged(e), { inputPosition: position, inputAt: typeof m.inputAt === 'string' ? m.inputAt : null });
    revision = e.streamRevision;
  }
  return { state, revision, appliedBy, laterFacts, laterAmends };
}

/**
 * After a successful append of `events` at revision `from` onwards: the first stored event there that
 * is not the one redrive sent (same id, other metadata), i.e. another writer's identical decision the
 * store took redrive's append as a retry of; undefined when they are redrive's own.
 */
async function otherWritersEvent(conn: Connection, stream: string, from: bigint, events: readonly NewEvent[]): Promise<RecordedEvent | undefined> {
  const stored = await conn.store.readStream(stream, { fromRevision: from, maxCount: events.length });
  for (let i = 0; i < events.length; i++) {
    const sent = events[i]!;
    const e = stored[i];
    if (!e) throw new Error(`unreachable: ${stream}@${from + BigInt(i)} missing right after an append there succeeded`);
    const mine = e.eventId.toLowerCase() === sent.eventId.toLowerCase() && Object.entries(sent.metadata).every(([k, v]) => isDeepStrictEqual(e.metadata[k], v));
    if (!mine) return e;
  }
  return undefined;
}

/** Judges (and unless dry-run appends) the input's decision on one account; retried on a concurrent write. */
async function redriveAccount(conn: Connection, input: RecordedEvent, ev: TradecoreEvent, userId: number, control: ControlState, o: RedriveOptions): Promise<AccountRedrive> {
  const stream = `account-${userId}`;
  const decider = o.decider ?? accountDecider;
  const attempts = o.conflictAttempts ?? 10;
  // Enough derived ids for any decision of one input (a self-trade settles two legs).
  const derivedIds = new Set([0, 1, 2, 3].map((i) => derivedEventId(input.eventId, stream, i)));
  for (let attempt = 1; ; attempt++) {
    const loaded = await loadAccount(conn, stream, input, derivedIds);
    const base = { userId, stream, revision: loaded.revision.toString(), events: [] };
    if (loaded.appliedBy) {
      const a = loaded.appliedBy;
      return {
        ...base,
        outcome: 'already_applied',
        reason: `${stream} already applied it: ${a.type} ${a.eventId} at position ${a.globalPosition} is its decision`,
        appliedBy: { eventId: a.eventId, type: a.type, position: a.globalPosition.toString() },
      };
    }
    // Orders still open here on which a later fill or applied amend overtook this input.
    const overtaken = ordersTakingRemaining(ev, userId).filter((orderId) => loaded.laterFacts.has(orderId) && loaded.state.openOrders.has(orderId));
    const amendedOrder = ev.type === 'OrderAmended' ? ev.data.orderId : null;
    const supersededBy = amendedOrder !== null ? loaded.laterAmends.get(amendedOrder) : undefined;
    if (amendedOrder !== null && supersededBy && loaded.state.openOrders.has(amendedOrder))
      return {
        ...base,
        outcome: 'nothing_to_apply',
        reason:
          `a later applied amend of order ${amendedOrder} (${supersededBy.eventId} at position ${supersededBy.globalPosition}) ` +
          `already set its terms and trimmed its reservation to them: this older amend has nothing left to apply`,
      };
    const built = marketFactCommand(userId, input, ev, control);
    if (!built) throw new Error(`unreachable: ${ev.type} passed the market-fact check`);
    const command = overtaken.length > 0 ? settledLate(built, overtaken) : built;
    let decided: TradecoreEvent[];
    try {
      // Only the ordering check is bypassed: the account as it is, its watermark just below the input.
      decided = decider.decide(command, { ...loaded.state, lastInputPosition: input.globalPosition - 1n });
    } catch (err) {
      return { ...base, outcome: 'refused', reason: `the account decider still throws on it: ${err instanceof Error ? err.message : String(err)}` };
    }
    if (decided.length === 0)
      return { ...base, outcome: 'nothing_to_apply', reason: `${stream} has nothing to apply for it (the order is no longer open there: its close released what it held)` };
    const metadata = redriveMetadata(input, o.clock);
    const events: NewEvent[] = decided.map((d, i) => ({ eventId: derivedEventId(input.eventId, stream, i), type: d.type, data: d.data, metadata }));
    if (o.dryRun) return { ...base, outcome: 'would_append', events };
    try {
      await conn.store.appendToStream(stream, events, { expectedRevision: loaded.revision < 0n ? 'no_stream' : loaded.revision });
    } catch (err) {
      // Another writer appended since the load (the risk handler, a redelivery of this input, a
      // deposit): reload and judge again. The derived ids, stored elsewhere in the stream than
      // right after the loaded revision, make a second write of the decision fail too.
      if (!(err instanceof WrongExpectedRevisionError || err instanceof IdempotencyConflictError)) throw err;
      if (attempt >= attempts) throw unavailable(`${stream} kept changing while redrive appended to it (${attempt} attempts); try again`, err);
      continue;
    }
    // The store answers an append of ids it holds right after the named revision as an idempotent
    // retry, writing nothing: whose events are stored there?
    const other = await otherWritersEvent(conn, stream, loaded.revision + 1n, events);
    if (other)
      return {
        ...base,
        outcome: 'already_applied',
        reason: `${stream} already applied it: ${other.type} ${other.eventId} at position ${other.globalPosition} is its decision, written by another writer while redrive appended it`,
        appliedBy: { eventId: other.eventId, type: other.type, position: other.globalPosition.toString() },
      };
    return { ...base, outcome: 'appended', events };
  }
}

/** Redrives the input `eventId` into each account it concerns (or only `options.userId`). */
export async function redriveInput(conn: Connection, eventId: string, options: RedriveOptions): Promise<RedriveResult> {
  if (!UUID.test(eventId)) throw usage(`eventId: ${JSON.stringify(eventId)} is not an event id (a UUID)`);
  const input = await findEvent(conn, eventId);
  if (!input) throw notFound(`no event ${eventId} in the log`);
  const where = `${input.type} ${input.eventId} (${input.stream}, position ${input.globalPosition})`;
  if (!isMarketFact(input.type)) {
    const why = TRADER_REQUESTS.has(input.type)
      ? "a trader's request: the risk handler answered it (engine_error) when it dead-lettered it"
      : 'not an input the risk handler applies to an account';
    throw new CliError(ExitCode.DATA, `${where} is not a market fact the risk handler applies (${REDRIVABLE_TYPES.join(', ')}): ${why}`);
  }
  const ev = parseLogged(input);
  if (!isMarketFact(ev.type)) throw badData(`${where}: its data reads as ${ev.type}`);
  const parties = accountsOfMarketFact(ev as TradecoreEvent & { type: MarketFactType });
  if (options.userId !== undefined && !parties.includes(options.userId))
    throw usage(`--user ${options.userId}: ${where} concerns ${parties.map((u) => `user ${u}`).join(' and ')}, not user ${options.userId}`);
  const control = await controlAt(conn, input.globalPosition);
  const accounts: AccountRedrive[] = [];
  for (const userId of options.userId !== undefined ? [options.userId] : parties) accounts.push(await redriveAccount(conn, input, ev, userId, control, options));
  return { input: { eventId: input.eventId, type: input.type, stream: input.stream, position: input.globalPosition.toString() }, dryRun: options.dryRun === true, accounts };
}

/** The exit code of a redrive: 0 something appended (or would be), 4 any account refused, else 3. */
export function redriveExitCode(r: RedriveResult): number {
  if (r.accounts.some((a) => a.outcome === 'refused')) return ExitCode.REFUSED;
  if (r.accounts.some((a) => a.outcome === 'appended' || a.outcome === 'would_append')) return ExitCode.OK;
  return ExitCode.NOTHING_TO_DO;
}

function describeEvent(e: { eventId: string; type: string; data: unknown }): string {
  const d = rec(e.data);
  const parts = [`${e.type} ${e.eventId}`];
  if (typeof d.orderId === 'string') parts.push(`order ${d.orderId}`);
  if (e.type === 'FillSettled') parts.push(`${String(d.side)} ${String(d.quantity)} @ ${String(d.price)}, notional ${String(d.notional)}, fee ${String(d.fee)} ${String(d.feeAsset)}, reservation released ${String(d.reservationReleased)}`);
  if (e.type === 'ReservationReleased') parts.push(`${String(d.amount)} ${String(d.asset)} (${String(d.cause)})`);
  return parts.join(', ');
}

export async function redriveCommand(conn: Connection, out: Output, eventId: string, options: RedriveOptions & { format: 'text' | 'json' }): Promise<number> {
  const r = await redriveInput(conn, eventId, options);
  const code = redriveExitCode(r);
  if (options.format === 'json') {
    out.line(JSON.stringify({ ...r, exitCode: code }));
    return code;
  }
  out.line(`${r.dryRun ? 'Would redrive' : 'Redrove'} ${r.input.type} ${r.input.eventId} (${r.input.stream}, position ${r.input.position}):`);
  for (const a of r.accounts) {
    switch (a.outcome) {
      case 'appended':
      case 'would_append':
        out.line(`  ${a.stream}: ${a.outcome === 'appended' ? 'appended' : 'would append'} after revision ${a.revision}:`);
        for (const e of a.events) out.line(`    ${describeEvent(e)}`);
        break;
      case 'already_applied':
        out.line(`  ${a.stream}: nothing appended: ${a.reason}`);
        break;
      case 'nothing_to_apply':
        out.line(`  ${a.stream}: nothing appended: ${a.reason}`);
        break;
      case 'refused':
        out.line(`  ${a.stream}: REFUSED, nothing appended: ${a.reason}`);
        break;
    }
  }
  return code;
}
