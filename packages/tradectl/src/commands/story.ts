/**
 * `tradectl order <orderId>` and `tradectl account <userId>`: the whole story of an order or an
 * account, event by event in global order, with who caused each event and every risk decision's
 * rule, limit and observed value.
 */
import { addDecimals, shownWithoutVault, type RejectReason } from '@tradecore/core-domain';
import type { RecordedEvent } from '@tradecore/event-store';
import type { Connection } from '../connect.ts';
import { notFound } from '../errors.ts';
import { eventTimeIso, rec } from '../filter.ts';
import { eventJson, textTable } from '../format.ts';
import type { Output } from '../io.ts';
import { scan } from '../log.ts';

/**
 * The reason the execution handler gives an order or amend its market decider failed on, and the
 * risk handler a trader's order, amend or cancel its account decider failed on.
 */
const ENGINE_ERROR: RejectReason = 'engine_error';

function str(v: unknown): string {
  if (v === null || v === undefined) return '-';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export interface RiskDecision {
  outcome: 'accepted' | 'rejected';
  /** For rejections: the reason code. */
  reason?: string;
  checks: { rule: string; limit: string | null; observed: string | null; passed: boolean }[];
}

/** The risk decision an event records, if it is one (OrderAccepted, OrderRejected, amend decisions). */
export function riskDecisionOf(e: RecordedEvent): RiskDecision | undefined {
  const d = rec(e.data);
  const checks = (Array.isArray(d.checks) ? d.checks : []).map((c) => {
    const x = rec(c);
    return { rule: str(x.rule), limit: (x.limit as string | null) ?? null, observed: (x.observed as string | null) ?? null, passed: true };
  });
  switch (e.type) {
    case 'OrderAccepted':
      return { outcome: 'accepted', checks };
    case 'OrderRejected':
    case 'OrderAmendRejected':
      // engine_error: no rule was evaluated (the decider threw); a table with a failed rule
      // `engine.error` would read as a risk limit the order broke.
      if (d.reason === ENGINE_ERROR) return undefined;
      return {
        outcome: 'rejected',
        reason: str(d.reason),
        checks: [...checks, { rule: str(d.rule), limit: (d.limit as string | null) ?? null, observed: (d.observed as string | null) ?? null, passed: false }],
      };
    default:
      return undefined;
  }
}

/** What happened, in words (one line). */
export function describe(e: RecordedEvent): string {
  const d = rec(e.data);
  switch (e.type) {
    case 'UserRegistered':
      return `user ${str(d.userId)} registered as ${typeof d.username === 'string' ? shownWithoutVault(d.username) : str(d.username)} (${Array.isArray(d.roles) ? d.roles.join(', ') : '-'})`;
    case 'UserForgotten':
      return `user ${str(d.userId)} forgotten by user ${str(d.forgottenBy)} (data key shredded; personal fields unreadable): ${str(d.reason)}`;
    case 'MarketListed':
      return `market ${str(d.marketId)} ${str(d.symbol)} listed: tick ${str(d.tickSize)}, lot ${str(d.lotSize)}, band ${str(d.priceBandBps)} bps`;
    case 'FundsDeposited':
      return `deposit of ${str(d.amount)} ${str(d.asset)} (by user ${str(d.depositedBy)})`;
    case 'OrderPlaced':
      return `placed ${str(d.side)} ${str(d.type)} ${str(d.quantity)}${d.price ? ` @ ${str(d.price)}` : ''} ${str(d.timeInForce)}${d.postOnly === true ? ' post-only' : ''}${d.clientOrderId ? ` (client id ${str(d.clientOrderId)})` : ''}`;
    case 'OrderAccepted':
      return `risk accepted: reserved ${str(d.reservedAmount)} ${str(d.reservedAsset)}${d.protectionPrice ? `, protection price ${str(d.protectionPrice)}` : ''}`;
    case 'OrderRejected':
      // engine_error is not a rules verdict: the risk handler could not decide the order at all and
      // says so, so that the trader hears back. An auditor looks for the dead letter.
      if (d.reason === ENGINE_ERROR) return 'rejected by the risk handler: engine_error: the account could not decide the order (input dead-lettered); nothing was reserved';
      return `risk rejected: ${str(d.reason)} (rule ${str(d.rule)}: limit ${str(d.limit)}, observed ${str(d.observed)})`;
    case 'OrderEntered':
      return `entered the book engine: ${str(d.side)} ${str(d.type)} ${str(d.quantity)}${d.price ? ` @ ${str(d.price)}` : ''}`;
    case 'OrderRested':
      return `rests on the book: ${str(d.side)} ${str(d.remainingQuantity)} @ ${str(d.price)}`;
    case 'TradeExecuted':
      return `trade ${str(d.tradeId)}: ${str(d.quantity)} @ ${str(d.price)}, taker ${str(d.takerOrderId)} (user ${str(d.takerUserId)}, ${str(d.takerSide)}) vs maker ${str(d.makerOrderId)} (user ${str(d.makerUserId)}); remaining taker ${str(d.takerRemainingQuantity)}, maker ${str(d.makerRemainingQuantity)}`;
    case 'FillSettled':
      return `fill settled (${str(d.liquidity)}): ${str(d.side)} ${str(d.quantity)} @ ${str(d.price)}, notional ${str(d.notional)} ${str(d.quoteAsset)}, fee ${str(d.fee)} ${str(d.feeAsset)}, reservation released ${str(d.reservationReleased)}`;
    case 'ReservationReleased':
      return `reservation released: ${str(d.amount)} ${str(d.asset)} (${str(d.cause)}${d.requestId === undefined ? '' : `, request ${str(d.requestId)}`})`;
    case 'OrderCancelRequested':
      return `cancel requested (request ${str(d.requestId)})`;
    case 'OrderAmendRequested':
      return `amend requested: price ${str(d.newPrice)}, quantity ${str(d.newQuantity)}`;
    case 'OrderAmendAccepted':
      return `risk accepted the amend: price ${str(d.newPrice)}, quantity ${str(d.newQuantity)}, reservation ${str(d.reservationDelta)} ${str(d.reservedAsset)}`;
    case 'OrderAmendRejected':
      if (d.reason === ENGINE_ERROR) return `amend refused by the risk handler: engine_error (request ${str(d.requestId)}): the account could not decide it (input dead-lettered); the order keeps its terms`;
      return `risk rejected the amend: ${str(d.reason)} (rule ${str(d.rule)}: limit ${str(d.limit)}, observed ${str(d.observed)})`;
    case 'OrderCancelAccepted':
      return `risk accepted the cancel (request ${str(d.requestId)}); the book cancels what is still open`;
    case 'OrderCancelRejected':
      if (d.reason === ENGINE_ERROR) return `cancel refused by the risk handler: engine_error (request ${str(d.requestId)}): the account could not decide it (input dead-lettered); the order is unchanged`;
      return `cancel rejected: ${str(d.reason)}`;
    case 'OrderCancelled':
      return `cancelled (${str(d.reason)}): ${str(d.cancelledQuantity)}`;
    case 'OrderExpired':
      return `expired: ${str(d.expiredQuantity)}`;
    case 'OrderAmended':
      return `amended on the book: ${str(d.quantity)} @ ${str(d.price)} (remaining ${str(d.remainingQuantity)}${d.priorityLost === true ? ', priority lost' : ''})`;
    case 'OrderRejectedByEngine':
      // engine_error is not the book's verdict: the execution handler could not decide the order at
      // all, and says so to release what risk reserved. An auditor looks for the dead letter.
      if (d.reason === ENGINE_ERROR)
        return `rejected by the execution handler: engine_error (${str(d.rejectedQuantity)}): the market could not decide the accepted order (input dead-lettered); it never reached the book, nothing traded`;
      return `rejected by the matching engine: ${str(d.reason)} (${str(d.rejectedQuantity)})`;
    case 'OrderAmendRejectedByEngine': {
      // Not the order's rejection: the order goes on (or had already ended) on the terms it had.
      const terms = `the order stays ${str(d.quantity)} @ ${str(d.price)} (remaining ${str(d.remainingQuantity)})`;
      const asked = `(asked ${str(d.newQuantity)} @ ${str(d.newPrice)}, request ${str(d.requestId)})`;
      // engine_error carries terms only when the book holds the order; without them it says nothing of whether the order rests.
      if (d.reason === ENGINE_ERROR)
        return `amend refused by the execution handler: engine_error ${asked}: the market could not decide it (input dead-lettered); ${d.price === undefined ? 'the order is not on the book' : terms}`;
      return `amend refused by the book: ${str(d.reason)} ${asked}; ${d.price === undefined ? 'the order was no longer on the book' : terms}`;
    }
    case 'MarketHalted':
      return `market ${str(d.marketId)} halted: ${str(d.reason)}`;
    case 'MarketResumed':
      return `market ${str(d.marketId)} resumed: ${str(d.reason)}`;
    case 'KillSwitchEngaged':
    case 'KillSwitchReleased':
      return `${e.type === 'KillSwitchEngaged' ? 'kill switch engaged' : 'kill switch released'} (${str(d.scope)}${d.marketId ? ` market ${str(d.marketId)}` : ''}${d.userId ? ` user ${str(d.userId)}` : ''}): ${str(d.reason)}`;
    default:
      return JSON.stringify(e.data);
  }
}

/** Remembers event ids seen (bounded), to name the cause of later events. */
class CauseIndex {
  private map = new Map<string, { n: number; type: string; position: bigint }>();
  constructor(private readonly max = 200_000) {}
  add(eventId: string, v: { n: number; type: string; position: bigint }): void {
    this.map.set(eventId, v);
    if (this.map.size > this.max) {
      const first = this.map.keys().next();
      if (!first.done) this.map.delete(first.value);
    }
  }
  get(eventId: string): { n: number; type: string; position: bigint } | undefined {
    return this.map.get(eventId);
  }
}

export type StoryFormat = 'text' | 'jsonl';

interface OrderTally {
  quantity: string | null;
  filled: string;
  trades: number;
  status: string;
}

/** Writes the story of events as they stream by; returns how many there were. */
async function writeStory(out: Output, events: AsyncIterable<RecordedEvent>, format: StoryFormat, orderId?: string): Promise<{ count: number; tally: OrderTally }> {
  const causes = new CauseIndex();
  const tally: OrderTally = { quantity: null, filled: '0', trades: 0, status: 'unknown' };
  let n = 0;
  for await (const e of events) {
    n++;
    const m = rec(e.metadata);
    const causation = typeof m.causationId === 'string' ? m.causationId : null;
    const cause = causation ? causes.get(causation) : undefined;
    causes.add(e.eventId, { n, type: e.type, position: e.globalPosition });
    const decision = riskDecisionOf(e);
    if (orderId !== undefined) tallyOrder(tally, e, orderId);
    if (format === 'jsonl') {
      out.line(
        JSON.stringify({
          n,
          ...eventJson(e),
          time: eventTimeIso(e),
          causedBy: { userId: m.userId ?? null, correlationId: m.correlationId ?? null, causationId: causation, causationEvent: cause ? { n: cause.n, type: cause.type, position: cause.position.toString() } : null },
          summary: describe(e),
          ...(decision ? { riskDecision: decision } : {}),
        }),
      );
    } else {
      out.line(`#${n}  ${eventTimeIso(e)}  position ${e.globalPosition}  ${e.stream}@${e.streamRevision}  ${e.type}`);
      out.line(`    ${describe(e)}`);
      const causeText = causation === null ? 'none' : cause ? `#${cause.n} ${cause.type} (${causation})` : causation;
      out.line(`    caused by: user ${str(m.userId)} · correlation ${str(m.correlationId)} · causation ${causeText}${m.inputPosition !== undefined ? ` · input position ${str(m.inputPosition)}` : ''}`);
      if (decision) {
        out.line(`    risk decision: ${decision.outcome}${decision.reason ? ` (${decision.reason})` : ''}`);
        if (decision.checks.length > 0) {
          out.write(
            textTable(
              ['RULE', 'LIMIT', 'OBSERVED', 'RESULT'],
              decision.checks.map((c) => [c.rule, c.limit ?? '-', c.observed ?? '-', c.passed ? 'pass' : 'FAIL']),
              '      ',
            ),
          );
        }
      }
      out.line();
    }
    await out.maybeFlush();
  }
  return { count: n, tally };
}

function safeAdd(a: string, b: string): string {
  try {
    return addDecimals(a, b);
  } catch {
    return a;
  }
}
function isZero(v: string): boolean {
  return /^0+(\.0+)?$/.test(v);
}

function tallyOrder(t: OrderTally, e: RecordedEvent, orderId: string): void {
  const d = rec(e.data);
  switch (e.type) {
    case 'OrderPlaced':
      t.quantity = str(d.quantity);
      t.status = 'pending';
      break;
    case 'OrderAccepted':
      t.status = 'accepted';
      break;
    case 'OrderRested':
      t.status = 'open';
      break;
    case 'OrderRejected':
    case 'OrderRejectedByEngine':
      t.status = 'rejected';
      break;
    case 'TradeExecuted': {
      t.trades++;
      if (typeof d.quantity === 'string') t.filled = safeAdd(t.filled, d.quantity);
      const remaining = d.takerOrderId === orderId ? d.takerRemainingQuantity : d.makerRemainingQuantity;
      t.status = typeof remaining === 'string' && isZero(remaining) ? 'filled' : 'partially filled';
      break;
    }
    case 'OrderCancelled':
      t.status = 'cancelled';
      break;
    case 'OrderExpired':
      t.status = 'expired';
      break;
    default:
      break;
  }
}

export async function orderStory(conn: Connection, out: Output, orderId: string, format: StoryFormat): Promise<number> {
  const placed = (await conn.store.readStream(`order-${orderId}`, { maxCount: 1 }))[0];
  let userId: number | undefined;
  let marketId: number | undefined;
  if (placed) {
    const d = rec(placed.data);
    if (typeof d.userId === 'number') userId = d.userId;
    if (typeof d.marketId === 'number') marketId = d.marketId;
  } else {
    // No order stream (never placed, or deleted): look for any event naming the order.
    for await (const e of scan(conn, { orderId })) {
      const d = rec(e.data);
      if (typeof d.userId === 'number') userId = d.userId;
      if (typeof d.marketId === 'number') marketId = d.marketId;
      break;
    }
    if (userId === undefined && marketId === undefined) throw notFound(`order ${orderId} not found: no stream order-${orderId} and no event names it`);
  }
  const streams = [`order-${orderId}`];
  if (userId !== undefined) streams.push(`account-${userId}`);
  if (marketId !== undefined) streams.push(`market-${marketId}`);
  if (format === 'text') {
    out.line(`Order ${orderId}${userId !== undefined ? ` of user ${userId}` : ''}${marketId !== undefined ? ` in market ${marketId}` : ''}${placed ? '' : ' (WARNING: its order stream is missing)'}`);
    out.line(`Streams: ${streams.join(', ')}`);
    out.line();
  }
  const { count, tally } = await writeStory(out, scan(conn, { streams, orderId }), format, orderId);
  if (format === 'text') {
    out.line(`${count} events. Status: ${tally.status}${tally.quantity ? `; quantity ${tally.quantity}` : ''}; filled ${tally.filled} in ${tally.trades} trade(s)`);
  }
  return count;
}

export async function accountStory(conn: Connection, out: Output, userId: number, format: StoryFormat): Promise<number> {
  async function* withHeader(): AsyncGenerator<RecordedEvent> {
    let first = true;
    for await (const e of scan(conn, { userId })) {
      if (first && format === 'text') {
        out.line(`Account of user ${userId}: every event about the user or caused by them (stream account-${userId}, their orders, their trades)`);
        out.line();
      }
      first = false;
      yield e;
    }
  }
  const { count } = await writeStory(out, withHeader(), format);
  if (count === 0) throw notFound(`user ${userId} not found: no event about or by user ${userId}`);
  if (format === 'text') out.line(`${count} events.`);
  return count;
}
