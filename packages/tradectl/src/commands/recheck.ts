/**
 * `tradectl recheck <orderId>`: re-runs the recorded risk decision of an order with core-domain's
 * rules and says whether it agrees with what was recorded.
 *
 * The inputs are the decision's recorded inputs: `metadata.riskInputs` of the decision event when
 * the risk handler stored them there; otherwise they are rebuilt from the log exactly as the
 * account decider builds them (`placeRiskInputs`):
 *  - the order: the `OrderPlaced` of stream order-{id}; the input's position and time are those the
 *    decision recorded (metadata.inputPosition / inputAt), else the OrderPlaced's position and
 *    occurredAt (as the risk handler takes them);
 *  - the account: stream account-{userId} folded with `evolveAccount` up to the decision event
 *    (each event with its recorded inputPosition / inputAt);
 *  - the control view: streams `markets` and `control` folded with `evolveControl` up to the input;
 *  - the last price: the last `TradeExecuted` of market-{marketId} before the input;
 *  - the limits: those the recorded checks name (max_open_orders, order_rate.<window>ms), else
 *    core-domain's defaults.
 *
 * A refusal of reason `engine_error` (the order, amend or cancel the account decider threw on, which
 * the risk handler refused in its place) is no rules decision: re-running the rules would "disagree"
 * with every one of them. What is re-run instead is that answer (`accountDecider.engineErrorAnswer`
 * on the account as it stood): it agrees when the account had not already decided the input, i.e.
 * when the order was not open in it (an amend: not already pending). The rules' decision on the same
 * inputs is still shown, for what the risk handler would have decided.
 */
import {
  DEFAULT_ACCOUNT_LIMITS,
  accountDecider,
  amendRiskInputs,
  compareDecimals,
  evaluateAmend,
  evaluateOrder,
  evolveAccount,
  evolveControl,
  initialAccountState,
  initialControlState,
  placeRiskInputs,
  recheck,
  type AccountCommand,
  type AccountLimits,
  type AmendRiskDecision,
  type AmendRiskInputs,
  type AccountState,
  type ControlState,
  type EventData,
  type OrderRiskInputs,
  type RecheckResult,
  type RecordedOrderOutcome,
} from '@tradecore/core-domain';
import type { RecordedEvent } from '@tradecore/event-store';
import type { Connection } from '../connect.ts';
import { badData, notFound } from '../errors.ts';
import { rec } from '../filter.ts';
import { textTable } from '../format.ts';
import type { Output } from '../io.ts';
import { parseLogged, readStreamPaged, scan, VISIBLE_BOUND_SQL } from '../log.ts';

/** Limits as the recorded checks name them; core-domain's defaults for the rest. */
export function limitsFromChecks(checks: readonly { rule: string; limit: string | null }[]): { limits: AccountLimits; source: string } {
  let maxOpenOrders = DEFAULT_ACCOUNT_LIMITS.maxOpenOrders;
  let rate = { ...DEFAULT_ACCOUNT_LIMITS.orderRate };
  const from: string[] = [];
  for (const c of checks) {
    if (c.rule === 'max_open_orders' && c.limit !== null && /^\d+$/.test(c.limit)) {
      maxOpenOrders = Number(c.limit);
      from.push('max_open_orders');
    }
    const m = /^order_rate\.(\d+)ms$/.exec(c.rule);
    if (m?.[1] && c.limit !== null && /^\d+$/.test(c.limit)) {
      rate = { maxOrders: Number(c.limit), windowMs: Number(m[1]) };
      from.push('order_rate');
    }
  }
  return {
    limits: { maxOpenOrders, orderRate: rate },
    source: from.length === 2 ? 'the recorded checks' : from.length === 0 ? "core-domain's defaults" : `the recorded checks (${from.join(', ')}) and core-domain's defaults`,
  };
}

async function lastTradePrice(conn: Connection, marketId: number, before: bigint): Promise<string | null> {
  if (conn.kind === 'postgres') {
    const r = await conn.pool.query<{ price: string | null }>(
      `select e.data->>'price' as price from "${conn.schema}".events e
        where e.stream = $1 and e.type = 'TradeExecuted' and e.position < $2::bigint and e.position < ${VISIBLE_BOUND_SQL}
        order by e.revision desc limit 1`,
      [`market-${marketId}`, before.toString()],
    );
    return r.rows[0]?.price ?? null;
  }
  let price: string | null = null;
  for await (const e of scan(conn, { streams: [`market-${marketId}`], types: ['TradeExecuted'], toPosition: before - 1n })) {
    const p = rec(e.data).price;
    if (typeof p === 'string') price = p;
  }
  return price;
}

/** The control view (streams markets and control folded) as of just before global position `before`. */
export async function controlAt(conn: Connection, before: bigint): Promise<ControlState> {
  let control = initialControlState();
  for await (const e of scan(conn, { streams: ['markets', 'control'], toPosition: before - 1n })) control = evolveControl(control, parseLogged(e));
  return control;
}

/** The reason of a refusal the risk handler wrote for a request its account decider threw on. */
const ENGINE_ERROR = 'engine_error';

/**
 * Compares a recorded engine_error refusal with the account's answer re-run on the state before it
 * (`again`): the same event, or the account had already decided the input and no refusal stands.
 */
export function compareEngineError(recorded: RecordedEvent, again: readonly { type: string; data: object }[]): string[] {
  const answer = again[0];
  if (!answer) return ['an engine_error refusal cannot stand here: the account had already decided this input (the order was open in it, or the amend pending)'];
  if (answer.type !== recorded.type) return [`type: recorded ${recorded.type}, the account's answer is ${answer.type}`];
  const d = rec(recorded.data);
  const a = rec(answer.data);
  const out: string[] = [];
  // The refusal's fields are strings, numbers and nulls: JSON shows each as recorded.
  for (const k of new Set([...Object.keys(d), ...Object.keys(a)])) if ((d[k] ?? null) !== (a[k] ?? null)) out.push(`${k}: ${JSON.stringify(d[k] ?? null)} → ${JSON.stringify(a[k] ?? null)}`);
  return out;
}

export interface AmendRecheck {
  requestId: string;
  decision: RecordedEvent;
  input: { position: bigint; at: string };
  /** null: the order was not open, so the decider rejects with order_not_open. */
  inputs: AmendRiskInputs | null;
  rerun: AmendRiskDecision | { outcome: 'rejected'; reason: 'order_not_open'; rule: 'order.open'; limit: null; observed: null; checks: [] };
  /** The recorded decision is an engine_error refusal: `matches` compares the account's answer, `rerun` is the rules' view. */
  engineError: boolean;
  matches: boolean;
  differences: string[];
}

function sameDecimal(a: string, b: string): boolean {
  try {
    return compareDecimals(a, b) === 0;
  } catch {
    return a === b;
  }
}

/** Compares a re-run amend decision with the recorded OrderAmendAccepted / OrderAmendRejected. */
export function compareAmend(recorded: RecordedEvent, rerun: AmendRecheck['rerun']): string[] {
  const d = rec(recorded.data);
  const out: string[] = [];
  if (recorded.type === 'OrderAmendAccepted') {
    if (rerun.outcome !== 'accepted') return [`outcome: recorded accepted, now rejected (${rerun.reason} by ${rerun.rule})`];
    for (const k of ['newPrice', 'newQuantity', 'reservationDelta'] as const) {
      if (!sameDecimal(String(d[k]), rerun[k])) out.push(`${k}: ${String(d[k])} → ${rerun[k]}`);
    }
    if (d.reservedAsset !== rerun.reservedAsset) out.push(`reservedAsset: ${String(d.reservedAsset)} → ${rerun.reservedAsset}`);
    return out;
  }
  if (rerun.outcome !== 'rejected') return [`outcome: recorded rejected (${String(d.reason)}), now accepted`];
  for (const k of ['reason', 'rule', 'limit', 'observed'] as const) {
    const was = (d[k] ?? null) as string | null;
    if (was !== rerun[k]) out.push(`${k}: ${String(was)} → ${String(rerun[k])}`);
  }
  return out;
}

export interface RecheckOutcome {
  orderId: string;
  decision: RecordedEvent;
  inputsSource: string;
  limitsSource: string;
  inputs: OrderRiskInputs;
  /** The input the decision was taken for (when rebuilt from the log). */
  input?: { position: bigint; at: string };
  result: RecheckResult;
  /** The recorded decision is an engine_error refusal: `result.matches` compares the account's answer, `result.decision` is the rules' view. */
  engineError: boolean;
  /** Every amend decision of the order, re-run the same way. */
  amends: AmendRecheck[];
  /** Placement and every amend agree. */
  agrees: boolean;
}

export async function recheckOrder(conn: Connection, orderId: string): Promise<RecheckOutcome> {
  const placedRec = (await conn.store.readStream(`order-${orderId}`, { maxCount: 1 }))[0];
  if (!placedRec) throw notFound(`order ${orderId} not found: stream order-${orderId} is empty`);
  const placedEvent = parseLogged(placedRec);
  if (placedEvent.type !== 'OrderPlaced') throw badData(`order-${orderId} does not start with OrderPlaced (found ${placedRec.type})`);
  const placed: EventData<'OrderPlaced'> = placedEvent.data;

  // The order's amend requests (its own stream is short).
  const requests = new Map<string, { data: EventData<'OrderAmendRequested'>; event: RecordedEvent }>();
  for await (const e of readStreamPaged(conn, `order-${orderId}`)) {
    if (e.type !== 'OrderAmendRequested') continue;
    const ev = parseLogged(e);
    if (ev.type === 'OrderAmendRequested') requests.set(ev.data.requestId, { data: ev.data, event: e });
  }

  // The account stream: the state before each decision of this order, and the decisions.
  let state: AccountState = initialAccountState();
  let decision: RecordedEvent | undefined;
  let stateAtPlacement: AccountState | undefined;
  const amendStates: { decision: RecordedEvent; state: AccountState }[] = [];
  for await (const e of readStreamPaged(conn, `account-${placed.userId}`)) {
    const d = rec(e.data);
    if (d.orderId === orderId) {
      if ((e.type === 'OrderAccepted' || e.type === 'OrderRejected') && !decision) {
        decision = e;
        stateAtPlacement = state;
      } else if ((e.type === 'OrderAmendAccepted' || e.type === 'OrderAmendRejected') && decision) {
        amendStates.push({ decision: e, state });
      }
    }
    if (decision && amendStates.length >= requests.size) break;
    const m = rec(e.metadata);
    state = evolveAccount(state, parseLogged(e), {
      inputPosition: typeof m.inputPosition === 'string' || typeof m.inputPosition === 'number' ? m.inputPosition : null,
      inputAt: typeof m.inputAt === 'string' ? m.inputAt : null,
    });
  }
  if (!decision || !stateAtPlacement) throw notFound(`order ${orderId} has no recorded risk decision (no OrderAccepted or OrderRejected in account-${placed.userId})`);
  state = stateAtPlacement;
  const decided = parseLogged(decision);
  let recorded: RecordedOrderOutcome;
  let checks: { rule: string; limit: string | null }[];
  if (decided.type === 'OrderAccepted') {
    recorded = { type: 'OrderAccepted', data: decided.data };
    checks = decided.data.checks;
  } else if (decided.type === 'OrderRejected') {
    recorded = { type: 'OrderRejected', data: decided.data };
    checks = [{ rule: decided.data.rule, limit: decided.data.limit }];
  } else throw badData(`unexpected decision type ${decision.type}`);

  const meta = rec(decision.metadata);
  const { limits, source: limitsSource } = limitsFromChecks(checks);
  let inputs: OrderRiskInputs;
  let inputsSource: string;
  let input: RecheckOutcome['input'];
  const recordedPosition = typeof meta.inputPosition === 'string' && /^\d+$/.test(meta.inputPosition) ? BigInt(meta.inputPosition) : undefined;
  const inputPosition = recordedPosition ?? placedRec.globalPosition;
  const placedMeta = rec(placedRec.metadata);
  const inputAt = typeof meta.inputAt === 'string' ? meta.inputAt : typeof placedMeta.occurredAt === 'string' ? placedMeta.occurredAt : placedRec.recordedAt;
  if (typeof meta.riskInputs === 'object' && meta.riskInputs !== null) {
    inputs = meta.riskInputs as OrderRiskInputs;
    inputsSource = 'recorded with the decision (metadata.riskInputs)';
  } else {
    const control = await controlAt(conn, inputPosition);
    const lastPrice = await lastTradePrice(conn, placed.marketId, inputPosition);
    inputs = placeRiskInputs({ kind: 'PlaceOrder', inputPosition, inputAt, order: placed, control, lastPrice, limits }, state);
    input = { position: inputPosition, at: inputAt };
    inputsSource = `rebuilt from the log as of the input at position ${inputPosition}`;
  }
  const engineError = decided.type === 'OrderRejected' && decided.data.reason === ENGINE_ERROR;
  let result: RecheckResult;
  if (engineError) {
    // The answer needs only the order, the input position and the account (no control, no price).
    const command: AccountCommand = { kind: 'PlaceOrder', inputPosition, inputAt, order: placed, control: initialControlState(), lastPrice: null, limits };
    const differences = compareEngineError(decision, accountDecider.engineErrorAnswer(command, state));
    result = { decision: evaluateOrder(inputs), matches: differences.length === 0, differences };
  } else result = recheck(inputs, recorded);

  const amends: AmendRecheck[] = [];
  for (const a of amendStates) {
    const am = rec(a.decision.metadata);
    const requestId = String(rec(a.decision.data).requestId);
    const request = requests.get(requestId);
    if (!request) {
      amends.push({
        requestId,
        decision: a.decision,
        input: { position: 0n, at: '' },
        inputs: null,
        rerun: { outcome: 'rejected', reason: 'order_not_open', rule: 'order.open', limit: null, observed: null, checks: [] },
        engineError: false,
        matches: false,
        differences: [`no OrderAmendRequested with request id ${requestId} in order-${orderId}`],
      });
      continue;
    }
    const position = typeof am.inputPosition === 'string' && /^\d+$/.test(am.inputPosition) ? BigInt(am.inputPosition) : request.event.globalPosition;
    const rm = rec(request.event.metadata);
    const at = typeof am.inputAt === 'string' ? am.inputAt : typeof rm.occurredAt === 'string' ? rm.occurredAt : request.event.recordedAt;
    const control = await controlAt(conn, position);
    const lastPrice = await lastTradePrice(conn, placed.marketId, position);
    const amendInputs = amendRiskInputs({ kind: 'AmendOrder', inputPosition: position, inputAt: at, request: request.data, control, lastPrice }, a.state);
    const rerun: AmendRecheck['rerun'] = amendInputs
      ? evaluateAmend(amendInputs)
      : { outcome: 'rejected', reason: 'order_not_open', rule: 'order.open', limit: null, observed: null, checks: [] };
    const amendEngineError = a.decision.type === 'OrderAmendRejected' && rec(a.decision.data).reason === ENGINE_ERROR;
    const differences = amendEngineError
      ? compareEngineError(a.decision, accountDecider.engineErrorAnswer({ kind: 'AmendOrder', inputPosition: position, inputAt: at, request: request.data, control, lastPrice }, a.state))
      : compareAmend(a.decision, rerun);
    amends.push({ requestId, decision: a.decision, input: { position, at }, inputs: amendInputs, rerun, engineError: amendEngineError, matches: differences.length === 0, differences });
  }
  return { orderId, decision, inputsSource, limitsSource, inputs, input, result, engineError, amends, agrees: result.matches && amends.every((x) => x.matches) };
}

export async function recheckCommand(conn: Connection, out: Output, orderId: string, format: 'text' | 'json'): Promise<boolean> {
  const r = await recheckOrder(conn, orderId);
  const now = r.result.decision;
  if (format === 'json') {
    out.line(
      JSON.stringify({
        orderId,
        agrees: r.result.matches,
        engineError: r.engineError,
        recorded: { type: r.decision.type, position: r.decision.globalPosition.toString(), data: r.decision.data },
        rerun: now,
        differences: r.result.differences,
        inputs: r.inputs,
        inputsSource: r.inputsSource,
        input: r.input ? { position: r.input.position.toString(), at: r.input.at } : null,
        limitsSource: r.limitsSource,
        amends: r.amends.map((a) => ({
          requestId: a.requestId,
          agrees: a.matches,
          engineError: a.engineError,
          recorded: { type: a.decision.type, position: a.decision.globalPosition.toString(), data: a.decision.data },
          rerun: a.rerun,
          differences: a.differences,
          input: { position: a.input.position.toString(), at: a.input.at },
        })),
        agreesOverall: r.agrees,
      }),
    );
    return r.agrees;
  }
  const d = rec(r.decision.data);
  out.line(`Order ${orderId}: recorded ${r.decision.type} at position ${r.decision.globalPosition} (${r.decision.stream}@${r.decision.streamRevision})`);
  out.line(`Inputs ${r.inputsSource}; limits from ${r.limitsSource}:`);
  const i = r.inputs;
  out.write(
    textTable(
      ['INPUT', 'VALUE'],
      [
        ...(r.input ? [['input', `position ${r.input.position} at ${r.input.at}`]] : []),
        ['order', `${i.order.side} ${i.order.type} ${i.order.quantity}${i.order.price ? ` @ ${i.order.price}` : ''} (user ${i.order.userId}, market ${i.order.marketId})`],
        ['market', i.market ? `${i.market.symbol} tick ${i.market.tickSize} lot ${i.market.lotSize} band ${i.market.priceBandBps} bps` : 'not listed'],
        ['block', i.block ? `${i.block.rule}: ${i.block.detail}` : 'none'],
        ['last price', i.lastPrice ?? 'none'],
        ['available base', i.available.base],
        ['available quote', i.available.quote],
        ['open orders', String(i.openOrders)],
        ['orders in window', String(i.ordersInWindow)],
        ['limits', `max open ${i.limits.maxOpenOrders}, rate ${i.limits.orderRate.maxOrders}/${i.limits.orderRate.windowMs}ms`],
      ],
      '  ',
    ),
  );
  const rules = now.outcome === 'rejected' ? `rejected ${now.reason} by ${now.rule} (limit ${now.limit ?? 'null'}, observed ${now.observed ?? 'null'})` : `accepted, reserved ${now.reservedAmount} ${now.reservedAsset}`;
  if (r.engineError) {
    out.line('Recorded: rejected engine_error: the risk handler could not decide the order (input dead-lettered); no rules decision');
    out.line(`Re-run:   the account's answer to that input${r.result.matches ? ', engine_error again (the order was not open in the account)' : ''}`);
    out.line(`Rules on the same inputs: ${rules}`);
  } else {
    if (r.decision.type === 'OrderRejected') out.line(`Recorded: rejected ${String(d.reason)} by ${String(d.rule)} (limit ${String(d.limit)}, observed ${String(d.observed)})`);
    else out.line(`Recorded: accepted, reserved ${String(d.reservedAmount)} ${String(d.reservedAsset)}`);
    out.line(`Re-run:   ${rules}`);
  }
  out.write(
    textTable(
      ['RULE', 'LIMIT', 'OBSERVED'],
      [...now.checks.map((c) => [c.rule, c.limit ?? '-', c.observed ?? '-']), ...(now.outcome === 'rejected' ? [[`${now.rule} (FAIL)`, now.limit ?? '-', now.observed ?? '-']] : [])],
      '  ',
    ),
  );
  if (r.result.matches) out.line(r.engineError ? "AGREES: the account gives the recorded engine_error answer." : 'AGREES: the rules give the recorded decision.');
  else {
    out.line('DISAGREES with the recorded decision:');
    for (const x of r.result.differences) out.line(`  - ${x}`);
  }
  for (const a of r.amends) {
    const ad = rec(a.decision.data);
    out.line();
    out.line(`Amend ${a.requestId}: recorded ${a.decision.type} at position ${a.decision.globalPosition} (input position ${a.input.position} at ${a.input.at})`);
    if (a.decision.type === 'OrderAmendAccepted') out.line(`  Recorded: accepted ${String(ad.newQuantity)} @ ${String(ad.newPrice)}, reservation ${String(ad.reservationDelta)} ${String(ad.reservedAsset)}`);
    else if (a.engineError) out.line('  Recorded: rejected engine_error: the risk handler could not decide the amend (input dead-lettered); no rules decision');
    else out.line(`  Recorded: rejected ${String(ad.reason)} by ${String(ad.rule)} (limit ${String(ad.limit)}, observed ${String(ad.observed)})`);
    const rr = a.rerun;
    const label = a.engineError ? '  Rules on the same inputs:' : '  Re-run:  ';
    if (rr.outcome === 'accepted') out.line(`${label} accepted ${rr.newQuantity} @ ${rr.newPrice}, reservation ${rr.reservationDelta} ${rr.reservedAsset}`);
    else out.line(`${label} rejected ${rr.reason} by ${rr.rule} (limit ${rr.limit ?? 'null'}, observed ${rr.observed ?? 'null'})`);
    if (a.matches) out.line('  AGREES');
    else for (const x of a.differences) out.line(`  DISAGREES: ${x}`);
  }
  if (r.amends.length > 0) out.line(r.agrees ? '\nAll decisions of the order agree.' : '\nAt least one decision of the order DISAGREES.');
  return r.agrees;
}
