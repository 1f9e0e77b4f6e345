/**
 * The account decider over a busy trader's hour: one account places an order every
 * BENCH_INTERVAL_MS (default 50 ms, 20 orders/s) and each is cancelled after the next one, for
 * BENCH_ORDERS orders (default 80,000: past the hour the order-rate window keeps). Each order is
 * decide(PlaceOrder) + evolve(OrderAccepted) + decide(ReleaseOrder) + evolve, as the risk handler
 * runs them. Prints µs per order (CPU of the process) for each slice of BENCH_SLICE orders, so a
 * cost that grows with the account's history shows as a rising row.
 *
 *   pnpm bench:account
 *
 * Last line: RESULT {json} with the first and the last slice.
 */
import { catalogueEvent } from '../src/order/decider.ts';
import { evolveControl, initialControlState } from '../src/control/control.ts';
import { DEFAULT_ACCOUNT_LIMITS } from '../src/risk/rules.ts';
import { accountDecisionMeta, decideAccount, evolveAccount, initialAccountState, type AccountCommand, type AccountState } from '../src/account/account.ts';

const ORDERS = Number(process.env.BENCH_ORDERS ?? 80_000);
const INTERVAL_MS = Number(process.env.BENCH_INTERVAL_MS ?? 50);
const SLICE = Number(process.env.BENCH_SLICE ?? 10_000);
const USER = 7;
const T0 = Date.UTC(2030, 0, 1);

const control = evolveControl(
  initialControlState(),
  catalogueEvent('MarketListed', {
    marketId: 1, symbol: 'BTC-USD', baseAsset: 'BTC', quoteAsset: 'USD', tickSize: '0.01', lotSize: '0.001', referencePrice: '100',
    makerFeeBps: 10, takerFeeBps: 20, maxOrderQuantity: '100', maxOrderNotional: '1000000', priceBandBps: 5000, listedBy: 1,
  }),
);
// A higher rate limit than the default 50/s, so that no order of the hour is refused.
const limits = { ...DEFAULT_ACCOUNT_LIMITS, orderRate: { maxOrders: 1_000, windowMs: 1_000 } };

let position = 0n;
function apply(state: AccountState, command: AccountCommand): AccountState {
  const events = decideAccount(command, state);
  const meta = accountDecisionMeta(command);
  return events.reduce((s, e) => evolveAccount(s, e, meta), state);
}

let state = evolveAccount(initialAccountState(), catalogueEvent('FundsDeposited', { depositId: 'd1', userId: USER, asset: 'USD', amount: '1000000000', depositedBy: 1 }));

const slices: { from: number; usPerOrder: number }[] = [];
let previous: string | undefined;
let sliceStart = process.cpuUsage();
for (let i = 0; i < ORDERS; i++) {
  const inputAt = new Date(T0 + i * INTERVAL_MS).toISOString();
  const orderId = `o${i}`;
  state = apply(state, {
    kind: 'PlaceOrder',
    inputPosition: ++position,
    inputAt,
    order: {
      orderId, userId: USER, marketId: 1, side: 'buy', type: 'limit', timeInForce: 'GTC', price: '100', quantity: '1', postOnly: false,
      selfTradePrevention: 'cancel_newest', clientOrderId: null, requestHash: 'h', placedAt: inputAt,
    },
    control,
    lastPrice: null,
    limits,
  });
  if (previous !== undefined) {
    state = apply(state, {
      kind: 'ReleaseOrder',
      inputPosition: ++position,
      inputAt,
      event: catalogueEvent('OrderCancelled', { orderId: previous, userId: USER, marketId: 1, reason: 'user', cancelledQuantity: '1' }),
    });
  }
  previous = orderId;
  if ((i + 1) % SLICE === 0) {
    const used = process.cpuUsage(sliceStart);
    slices.push({ from: i + 1 - SLICE, usPerOrder: Math.round(((used.user + used.system) / SLICE) * 10) / 10 });
    sliceStart = process.cpuUsage();
  }
}
if (state.openOrders.size !== 1) throw new Error(`expected one open order at the end, found ${state.openOrders.size}`);

console.log(`orders ${ORDERS}, one every ${INTERVAL_MS} ms (${(ORDERS * INTERVAL_MS) / 60_000} min of input time), µs of CPU per order by slice of ${SLICE}:`);
for (const s of slices) console.log(`  orders ${String(s.from).padStart(6)}..${String(s.from + SLICE - 1).padStart(6)}: ${s.usPerOrder} µs`);
console.log(`RESULT ${JSON.stringify({ bench: 'account', orders: ORDERS, intervalMs: INTERVAL_MS, firstSliceUs: slices[0]?.usPerOrder, lastSliceUs: slices[slices.length - 1]?.usPerOrder, slices })}`);
