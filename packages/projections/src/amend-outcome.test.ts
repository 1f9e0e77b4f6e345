/**
 * The amend outcome of an order that ends while an amend is pending, on the events the real
 * deciders record (core-domain's account and market deciders behind the engine's routing, see
 * testing/write-side.ts): an amend to no more than was filled ends the order (the book's only
 * answer is OrderCancelled, reason user) and is applied; every other way an order ends while an
 * amend waits (filled, cancelled by the trader, expired, kill switch, halt, rejected by risk or by
 * the book) is answered by OrderAmendRejected / OrderAmendRejectedByEngine order_not_open (or the
 * rule that refused it). Each history is folded live, one event per batch (the live cache drops an
 * order once final, so a later answer loads it), by a replay (tradectl replay / rebuild's pipeline)
 * and by the reference fold, and the three must agree.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import { createProjector, diffReadModels, replayReadModels, snapshotReadModels, type CanonicalRow } from './index.ts';
import { InMemoryEventStore } from './testing/memory-store.ts';
import { WriteSide } from './testing/write-side.ts';
import { referenceFold } from '../test/reference-fold.ts';

let db: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase('proj_amend_end');
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

const TRADER = 7;
const OTHER = 8;

interface OrderAmendRow {
  status: string;
  cancel_reason: string | null;
  amend_request_id: string | null;
  amend_status: string | null;
  amend_reject_reason: string | null;
  amend_price: string | null;
  amend_quantity: string | null;
}

let schemas = 0;
/**
 * Folds the history live (`batchSize` events per batch, live cache on), replays it into another schema, and
 * checks that both equal each other and the reference fold; returns the live order rows.
 */
async function fold(ws: WriteSide, batchSize = 1): Promise<Map<string, OrderAmendRow>> {
  const n = ++schemas;
  const live = `end_live_${n}`;
  const replay = `end_replay_${n}`;
  const projector = createProjector({ pool, schema: live, notify: false, liveCache: true });
  await projector.migrate();
  let errors = 0;
  for (let i = 0; i < ws.log.length; i += batchSize) errors += (await projector.apply(ws.log.slice(i, i + batchSize))).errors;
  expect(errors).toBe(0);
  await replayReadModels({ store: InMemoryEventStore.of(ws.log), pool, schema: replay });
  expect(await diffReadModels(pool, live, replay)).toEqual([]);
  const byId = (rows: readonly CanonicalRow[] | undefined) => [...(rows ?? [])].sort((a, b) => String(a.order_id).localeCompare(String(b.order_id)));
  expect(byId((await snapshotReadModels(pool, live)).orders)).toEqual(byId(referenceFold(ws.log).tables.orders));
  const r = await pool.query<OrderAmendRow & { order_id: string }>(
    `select order_id, status, cancel_reason, amend_request_id, amend_status, amend_reject_reason,
            trim_scale(amend_price)::text as amend_price, trim_scale(amend_quantity)::text as amend_quantity
       from ${live}.orders`,
  );
  return new Map(r.rows.map(({ order_id, ...row }) => [order_id, row]));
}

/** A trader's resting buy of 1 at 100, and another trader's sell of `filled` against it. */
function partlyFilled(filled: string): { ws: WriteSide; order: string } {
  const ws = new WriteSide([TRADER, OTHER]);
  const order = ws.place(TRADER, { side: 'buy', price: '100', quantity: '1' });
  ws.drain();
  ws.place(OTHER, { side: 'sell', price: '100', quantity: filled });
  ws.drain();
  return { ws, order };
}

describe('an amend to no more than was filled', () => {
  it('ends the order cancelled (reason user) and is applied, with no other answer', async () => {
    const { ws, order } = partlyFilled('0.4');
    const request = ws.amend(TRADER, order, null, '0.4');
    ws.drain();
    // What the handlers decide: risk accepts, the book cancels the open rest; no amend answer follows.
    expect(ws.typesOf(order).slice(-3)).toEqual(['OrderAmendRequested', 'OrderAmendAccepted', 'OrderCancelled']);
    const rows = await fold(ws);
    expect(rows.get(order)).toEqual({ status: 'cancelled', cancel_reason: 'user', amend_request_id: request, amend_status: 'applied', amend_reject_reason: null, amend_price: '100', amend_quantity: '0.4' });
  });

  it('is applied when the new total is below the filled quantity, at a new price too', async () => {
    const { ws, order } = partlyFilled('0.5');
    const request = ws.amend(TRADER, order, '99', '0.2');
    ws.drain();
    expect(ws.typesOf(order).slice(-3)).toEqual(['OrderAmendRequested', 'OrderAmendAccepted', 'OrderCancelled']);
    const rows = await fold(ws);
    expect(rows.get(order)).toEqual({ status: 'cancelled', cancel_reason: 'user', amend_request_id: request, amend_status: 'applied', amend_reject_reason: null, amend_price: '99', amend_quantity: '0.2' });
  });
});

describe('an order that ends another way while its amend is pending', () => {
  it('filled after risk accepted the amend: the book refuses it, order_not_open', async () => {
    const ws = new WriteSide([TRADER, OTHER]);
    const order = ws.place(TRADER, { side: 'buy', price: '100', quantity: '1' });
    ws.drain();
    // the sell is recorded first, so the book fills the order before the amend reaches it
    ws.place(OTHER, { side: 'sell', price: '100', quantity: '1' });
    const request = ws.amend(TRADER, order, '99', null);
    ws.drain();
    expect(ws.typesOf(order)).toContain('OrderAmendAccepted');
    expect(ws.typesOf(order).at(-1)).toBe('OrderAmendRejectedByEngine');
    const rows = await fold(ws);
    expect(rows.get(order)).toMatchObject({ status: 'filled', amend_request_id: request, amend_status: 'rejected', amend_reject_reason: 'order_not_open' });
  });

  it('filled before risk saw the amend: risk refuses it, order_not_open', async () => {
    const ws = new WriteSide([TRADER, OTHER]);
    const order = ws.place(TRADER, { side: 'buy', price: '100', quantity: '1' });
    ws.drain();
    ws.place(OTHER, { side: 'sell', price: '100', quantity: '1' });
    ws.drain();
    const request = ws.amend(TRADER, order, '99', null);
    ws.drain();
    expect(ws.typesOf(order).slice(-2)).toEqual(['OrderAmendRequested', 'OrderAmendRejected']);
    const rows = await fold(ws);
    expect(rows.get(order)).toMatchObject({ status: 'filled', amend_request_id: request, amend_status: 'rejected', amend_reject_reason: 'order_not_open' });
  });

  it('filled by an amend to a crossing price: applied, then filled', async () => {
    const ws = new WriteSide([TRADER, OTHER]);
    const order = ws.place(TRADER, { side: 'buy', price: '100', quantity: '1' });
    ws.place(OTHER, { side: 'sell', price: '101', quantity: '1' });
    ws.drain();
    const request = ws.amend(TRADER, order, '101', null);
    ws.drain();
    expect(ws.typesOf(order)).toContain('OrderAmended');
    const rows = await fold(ws);
    expect(rows.get(order)).toMatchObject({ status: 'filled', amend_request_id: request, amend_status: 'applied', amend_reject_reason: null });
  });

  it('cancelled by the trader before the book applied the amend: the book refuses it, order_not_open', async () => {
    const ws = new WriteSide([TRADER]);
    const order = ws.place(TRADER, { side: 'buy', price: '100', quantity: '1' });
    ws.drain();
    ws.cancel(TRADER, order);
    const request = ws.amend(TRADER, order, '99', null);
    ws.drain();
    expect(ws.typesOf(order).slice(-2)).toEqual(['OrderCancelled', 'OrderAmendRejectedByEngine']);
    const rows = await fold(ws);
    expect(rows.get(order)).toMatchObject({ status: 'cancelled', cancel_reason: 'user', amend_request_id: request, amend_status: 'rejected', amend_reject_reason: 'order_not_open' });
  });

  it("cancelled by the trader while an amend to no more than the filled quantity waits: that amend's refusal stands", async () => {
    // The trader's cancel ends the order first (OrderCancelled, reason user, like the amend's own
    // would), then the book refuses the amend: the refusal is its outcome.
    const { ws, order } = partlyFilled('0.4');
    ws.cancel(TRADER, order);
    const request = ws.amend(TRADER, order, null, '0.4');
    ws.drain();
    expect(ws.typesOf(order).slice(-2)).toEqual(['OrderCancelled', 'OrderAmendRejectedByEngine']);
    const rows = await fold(ws);
    expect(rows.get(order)).toMatchObject({ status: 'cancelled', cancel_reason: 'user', amend_request_id: request, amend_status: 'rejected', amend_reject_reason: 'order_not_open' });
  });

  it("cancelled by the trader while risk accepts an amend to no more than the filled quantity, risk's append landing after the cancel: still the refusal", async () => {
    // The handlers run side by side: risk may decide the amend before it reads the book's cancel
    // and append its acceptance after it. The log is reordered so (positions renumbered).
    const { ws, order } = partlyFilled('0.4');
    ws.cancel(TRADER, order);
    const request = ws.amend(TRADER, order, null, '0.4');
    ws.drain();
    const accepted = ws.log.findIndex((r) => r.type === 'OrderAmendAccepted');
    const cancel = ws.log.findIndex((r) => r.type === 'OrderCancelled');
    expect(accepted).toBeLessThan(cancel);
    const moved = [...ws.log.slice(0, accepted), ...ws.log.slice(accepted + 1, cancel + 1), ws.log[accepted]!, ...ws.log.slice(cancel + 1)];
    ws.log.splice(0, ws.log.length, ...moved.map((r, i) => ({ ...r, globalPosition: BigInt(i + 1) })));
    expect(ws.typesOf(order).slice(-3)).toEqual(['OrderCancelled', 'OrderAmendAccepted', 'OrderAmendRejectedByEngine']);
    const rows = await fold(ws);
    expect(rows.get(order)).toEqual({ status: 'cancelled', cancel_reason: 'user', amend_request_id: request, amend_status: 'rejected', amend_reject_reason: 'order_not_open', amend_price: '100', amend_quantity: '0.4' });
  });

  it('expired before the book applied the amend: the book refuses it, order_not_open', async () => {
    const ws = new WriteSide([TRADER]);
    const order = ws.place(TRADER, { side: 'buy', price: '100', quantity: '1' });
    ws.drain();
    const request = ws.amend(TRADER, order, '99', null);
    ws.expire(order);
    ws.drain();
    expect(ws.typesOf(order).at(-1)).toBe('OrderAmendRejectedByEngine');
    const rows = await fold(ws);
    expect(rows.get(order)).toMatchObject({ status: 'expired', amend_request_id: request, amend_status: 'rejected', amend_reject_reason: 'order_not_open' });
  });

  for (const how of ['global kill switch', 'user kill switch', 'halt'] as const) {
    it(`cancelled by a ${how} while the amend waits: risk refuses the amend for the same reason`, async () => {
      // Risk decides the amend after the switch (or halt) is recorded, so its control check refuses
      // it; an amend it had accepted already would meet an order no longer on the book (order_not_open,
      // as in the cancel and expiry cases).
      const ws = new WriteSide([TRADER]);
      const order = ws.place(TRADER, { side: 'buy', price: '100', quantity: '1' });
      ws.drain();
      const request = ws.amend(TRADER, order, '99', null);
      if (how === 'halt') ws.halt();
      else ws.engageKillSwitch(how === 'global kill switch' ? 'global' : 'user', how === 'global kill switch' ? null : TRADER);
      ws.drain();
      const reason = how === 'halt' ? 'market_halted' : 'kill_switch';
      expect(ws.typesOf(order).slice(-3)).toEqual(['OrderAmendRequested', 'OrderAmendRejected', 'OrderCancelled']);
      const rows = await fold(ws);
      expect(rows.get(order)).toMatchObject({ status: 'cancelled', cancel_reason: reason, amend_request_id: request, amend_status: 'rejected', amend_reject_reason: reason });
    });
  }

  it('rejected by the book (post-only that would take) with an amend already accepted: the book refuses it, order_not_open', async () => {
    const ws = new WriteSide([TRADER, OTHER]);
    ws.place(OTHER, { side: 'sell', price: '100', quantity: '1' });
    ws.drain();
    const order = ws.place(TRADER, { side: 'buy', price: '100', quantity: '1', postOnly: true });
    const request = ws.amend(TRADER, order, '99', null);
    ws.drain();
    expect(ws.typesOf(order)).toContain('OrderRejectedByEngine');
    expect(ws.typesOf(order).at(-1)).toBe('OrderAmendRejectedByEngine');
    const rows = await fold(ws);
    expect(rows.get(order)).toMatchObject({ status: 'rejected', amend_request_id: request, amend_status: 'rejected', amend_reject_reason: 'order_not_open' });
  });

  it('rejected by risk: the amend is refused too, order_not_open', async () => {
    const ws = new WriteSide([TRADER], [['USD', '10']]);
    const order = ws.place(TRADER, { side: 'buy', price: '100', quantity: '1' });
    const request = ws.amend(TRADER, order, '99', null);
    ws.drain();
    expect(ws.typesOf(order).slice(-2)).toEqual(['OrderRejected', 'OrderAmendRejected']);
    const rows = await fold(ws);
    expect(rows.get(order)).toMatchObject({ status: 'rejected', amend_request_id: request, amend_status: 'rejected', amend_reject_reason: 'order_not_open' });
  });
});

describe('every amend of a random history', () => {
  it('has an outcome once the handlers have answered everything: no order is left with a pending amend (property)', async () => {
    const action = fc.oneof(
      { weight: 5, arbitrary: fc.record({ k: fc.constant('place' as const), user: fc.constantFrom(TRADER, OTHER), side: fc.constantFrom('buy' as const, 'sell' as const), price: fc.integer({ min: 98, max: 102 }), lots: fc.integer({ min: 1, max: 10 }), postOnly: fc.boolean() }) },
      { weight: 2, arbitrary: fc.record({ k: fc.constant('cancel' as const), pick: fc.nat() }) },
      { weight: 4, arbitrary: fc.record({ k: fc.constant('amend' as const), pick: fc.nat(), price: fc.option(fc.integer({ min: 98, max: 102 })), lots: fc.option(fc.integer({ min: 1, max: 10 })) }) },
      // down to a small total, which a partly filled order may already have filled
      { weight: 3, arbitrary: fc.record({ k: fc.constant('amend' as const), pick: fc.nat(), price: fc.constant(null), lots: fc.integer({ min: 1, max: 3 }) }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant('expire' as const), pick: fc.nat() }) },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(action, { minLength: 1, maxLength: 4 }), { minLength: 5, maxLength: 15 }), async (batches) => {
        const ws = new WriteSide([TRADER, OTHER]);
        const orders: { id: string; user: number }[] = [];
        for (const batch of batches) {
          for (const a of batch) {
            if (a.k === 'place') orders.push({ id: ws.place(a.user, { side: a.side, price: String(a.price), quantity: (a.lots / 10).toString(), postOnly: a.postOnly }), user: a.user });
            else if (orders.length > 0) {
              // mostly the latest orders, which are more often still open (or partly filled)
              const o = orders[orders.length - 1 - (a.pick % Math.min(orders.length, a.pick % 2 === 0 ? 3 : orders.length))]!;
              if (a.k === 'cancel') ws.cancel(o.user, o.id);
              else if (a.k === 'amend') ws.amend(o.user, o.id, a.price === null ? null : String(a.price), a.lots === null ? null : (a.lots / 10).toString());
              else {
                // an expiry is decided on the book as it stands: only with nothing left to decide
                ws.drain();
                ws.expire(o.id);
              }
            }
          }
          ws.drain();
        }
        const rows = await fold(ws, 7);
        for (const [id, row] of rows) expect(row.amend_status, `order ${id}: ${ws.typesOf(id).join(', ')}`).not.toBe('pending');
      }),
      { numRuns: 30, endOnFailure: true },
    );
  }, 180_000);
});

describe('read-model migration 3', () => {
  it('gives an order its fold left with a pending amend after the amend cancelled it the outcome a replay gives', async () => {
    const { ws, order } = partlyFilled('0.4');
    ws.amend(TRADER, order, null, '0.4');
    // and orders whose amends stay pending: a resting one, and one the trader cancelled whose amend's refusal is not folded yet
    const resting = ws.place(TRADER, { side: 'buy', price: '99', quantity: '1' });
    const cancelled = ws.place(TRADER, { side: 'buy', price: '98', quantity: '1' });
    ws.drain();
    ws.cancel(TRADER, cancelled);
    ws.amend(TRADER, cancelled, null, '0.5');
    ws.drain();
    const refusal = ws.log.findIndex((r) => r.type === 'OrderAmendRejectedByEngine' && (r.data as { orderId: string }).orderId === cancelled);
    expect(refusal).toBeGreaterThan(0);
    ws.amend(TRADER, resting, '97', null);
    // the log up to that refusal, and the resting order's amend request (not decided yet)
    const history = [...ws.log.slice(0, refusal), ws.log.at(-1)!];

    const projector = createProjector({ pool, schema: 'mig3_live', notify: false });
    await projector.migrate();
    await projector.apply(history);
    // what the fold before this change wrote, in a schema at version 2
    await pool.query(`update mig3_live.orders set amend_status = 'pending' where order_id = $1`, [order]);
    await pool.query('delete from mig3_live.schema_migrations where version = 3');
    await replayReadModels({ store: InMemoryEventStore.of(history), pool, schema: 'mig3_replay' });
    expect((await diffReadModels(pool, 'mig3_live', 'mig3_replay')).map((d) => d.key)).toEqual([{ order_id: order }]);

    await projector.migrate();
    expect(await diffReadModels(pool, 'mig3_live', 'mig3_replay')).toEqual([]);
    const statuses = await pool.query<{ order_id: string; status: string; amend_status: string }>(`select order_id, status, amend_status from mig3_live.orders where amend_status is not null order by order_id`);
    expect(statuses.rows).toEqual([
      { order_id: order, status: 'cancelled', amend_status: 'applied' },
      { order_id: resting, status: 'open', amend_status: 'pending' },
      { order_id: cancelled, status: 'cancelled', amend_status: 'pending' },
    ]);
  });
});
