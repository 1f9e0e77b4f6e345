import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { seed, tradectl, type Seeded } from '../testing/fixture.ts';

let f: Seeded;
let env: Record<string, string>;
beforeEach(async () => {
  f = await seed('tctl_recheck');
  env = { DATABASE_URL: f.url };
});
afterEach(async () => {
  await f.close();
});

interface RecheckJson {
  agrees: boolean;
  differences: string[];
  inputs: { available: { base: string; quote: string }; lastPrice: string | null; block: { rule: string } | null; openOrders: number };
  rerun: { outcome: string; reason?: string };
}

describe('tradectl recheck', () => {
  it('agrees with every recorded decision of the scenario (accepts and rejects of each kind)', async () => {
    const orders = [f.s.aliceBuy, f.s.bobAsk, f.s.daveRejected, f.s.aliceBandRejected, f.s.daveKilled, f.s.aliceCancelled];
    for (const o of orders) {
      const r = await tradectl(['recheck', o.orderId], env);
      expect(r.code, `${o.orderId}: ${r.out}${r.err}`).toBe(0);
      expect(r.out).toContain('AGREES');
    }
    const all = [...f.sim.orders.keys()];
    for (const id of all) expect((await tradectl(['recheck', id], env)).code, id).toBe(0);

    const j = JSON.parse((await tradectl(['recheck', f.s.daveKilled.orderId, '--format', 'json'], env)).out) as RecheckJson;
    expect(j.agrees).toBe(true);
    expect(j.inputs.block?.rule).toBe('kill_switch.user');
    expect(j.rerun).toMatchObject({ outcome: 'rejected', reason: 'kill_switch' });
    const band = JSON.parse((await tradectl(['recheck', f.s.aliceBandRejected.orderId, '--format', 'json'], env)).out) as RecheckJson;
    expect(band.inputs.lastPrice).toBe('101');
  });

  it('agrees with an order the market could not decide (engine_error), and with the next one, which the released funds pay for', async () => {
    const erin = await f.sim.registerUser('erin');
    await f.sim.deposit(erin, 'USD', '150', f.s.admin);
    // 1 @ 100 reserves 100.2 of 150: the second order fits only once the first one's reservation is back
    const failed = await f.sim.placeOrder({ userId: erin, marketId: f.s.btc, side: 'buy', price: '100.00', quantity: '1', engineError: true });
    const next = await f.sim.placeOrder({ userId: erin, marketId: f.s.btc, side: 'buy', price: '100.00', quantity: '1' });
    expect([failed.outcome, next.outcome]).toEqual(['accepted', 'accepted']);
    for (const o of [failed, next]) {
      const r = await tradectl(['recheck', o.orderId, '--format', 'json'], env);
      expect(r.code, r.out + r.err).toBe(0);
      const j = JSON.parse(r.out) as RecheckJson;
      expect(j.agrees).toBe(true);
      expect(j.inputs.available.quote).toBe('150');
    }
    const story = await tradectl(['order', failed.orderId], env);
    expect(story.code).toBe(0);
    expect(story.out).toContain('rejected by the execution handler: engine_error (1): the market could not decide the accepted order (input dead-lettered); it never reached the book, nothing traded');
    expect(story.out).toContain('reservation released: 100.2 USD (rejected)');
    expect(story.out).toContain('Status: rejected');
  });

  it('agrees with an order and an amend the risk handler could not decide (engine_error): the account answer is re-run, not the rules', async () => {
    const frank = await f.sim.registerUser('frank');
    await f.sim.deposit(frank, 'USD', '150', f.s.admin);
    const failed = await f.sim.placeOrder({ userId: frank, marketId: f.s.btc, side: 'buy', price: '100.00', quantity: '1', riskEngineError: true });
    expect(failed).toMatchObject({ outcome: 'rejected', reason: 'engine_error' });
    // nothing was reserved: the next order has all 150 available
    const next = await f.sim.placeOrder({ userId: frank, marketId: f.s.btc, side: 'buy', price: '99.00', quantity: '1' });
    expect(next.outcome).toBe('accepted');
    expect(await f.sim.amendOrder(next.orderId, { newPrice: '99.50', riskEngineError: true })).toMatchObject({ outcome: 'rejected', reason: 'engine_error' });

    const r = await tradectl(['recheck', failed.orderId, '--format', 'json'], env);
    expect(r.code, r.out + r.err).toBe(0);
    const j = JSON.parse(r.out) as RecheckJson & { engineError: boolean };
    expect(j).toMatchObject({ agrees: true, engineError: true, differences: [] });
    // the rules on the same inputs would have accepted it: shown, not held against the record
    expect(j.rerun.outcome).toBe('accepted');
    expect(j.inputs.available.quote).toBe('150');
    const text = await tradectl(['recheck', failed.orderId], env);
    expect(text.code).toBe(0);
    expect(text.out).toContain('Recorded: rejected engine_error: the risk handler could not decide the order (input dead-lettered); no rules decision');
    expect(text.out).toContain('AGREES: the account gives the recorded engine_error answer.');

    const amended = await tradectl(['recheck', next.orderId, '--format', 'json'], env);
    expect(amended.code, amended.out + amended.err).toBe(0);
    const aj = JSON.parse(amended.out) as { agreesOverall: boolean; amends: { agrees: boolean; engineError: boolean; differences: string[] }[] };
    expect(aj.agreesOverall).toBe(true);
    expect(aj.amends).toMatchObject([{ agrees: true, engineError: true, differences: [] }]);

    const story = await tradectl(['order', failed.orderId], env);
    expect(story.out).toContain('rejected by the risk handler: engine_error: the account could not decide the order (input dead-lettered); nothing was reserved');
    expect(story.out).toContain('Status: rejected');
  });

  it('disagrees (exit 1) with an engine_error refusal recorded for an input the account had already decided', async () => {
    const gina = await f.sim.registerUser('gina');
    await f.sim.deposit(gina, 'USD', '150', f.s.admin);
    const first = await f.sim.placeOrder({ userId: gina, marketId: f.s.btc, side: 'buy', price: '100.00', quantity: '1' });
    const failed = await f.sim.placeOrder({ userId: gina, marketId: f.s.btc, side: 'buy', price: '100.00', quantity: '1', riskEngineError: true });
    expect([first.outcome, failed.outcome]).toEqual(['accepted', 'rejected']);
    // Behind the store: the refusal now claims the input the account had decided before it (the
    // first order's). No refusal of that input can stand, so the answer does not re-run to it.
    await f.pool.query(
      `update event_store.events set metadata = jsonb_set(metadata, '{inputPosition}', to_jsonb($2::text)) where stream = $1 and type = 'OrderRejected' and data->>'orderId' = $3`,
      [`account-${gina}`, first.placedPosition.toString(), failed.orderId],
    );
    const r = await tradectl(['recheck', failed.orderId], env);
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.out).toContain('DISAGREES');
    expect(r.out).toContain('the account had already decided this input');
  });

  it('disagrees (exit 1) when a recorded input was changed behind the store: a deposit made larger', async () => {
    await f.pool.query(
      `update event_store.events set data = jsonb_set(data, '{amount}', '"1000"') where stream = $1 and type = 'FundsDeposited'`,
      [`account-${f.s.dave}`],
    );
    const r = await tradectl(['recheck', f.s.daveRejected.orderId], env);
    expect(r.code).toBe(1);
    expect(r.out).toContain('DISAGREES');
    expect(r.out).toContain('outcome: recorded rejected (insufficient_funds), now accepted');
    expect(r.out).toMatch(/available quote\s+1000/);
  });

  it('disagrees when the recorded decision itself was changed', async () => {
    await f.pool.query(
      `update event_store.events set data = jsonb_set(data, '{reservedAmount}', '"1.00"') where stream = $1 and type = 'OrderAccepted' and data->>'orderId' = $2`,
      [`account-${f.s.alice}`, f.s.aliceBuy.orderId],
    );
    const r = await tradectl(['recheck', f.s.aliceBuy.orderId, '--format', 'json'], env);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out) as RecheckJson;
    expect(j.agrees).toBe(false);
    expect(j.differences).toEqual(['reservedAmount: 1.00 → 152.5545']);
  });

  it('re-runs every amend decision of an order too (one accepted, one rejected by the price band)', async () => {
    const r = await tradectl(['recheck', f.s.carolBid.orderId], env);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/Amend [0-9a-f-]+: recorded OrderAmendAccepted/);
    expect(r.out).toContain('Re-run:   accepted 2 @ 48.5, reservation 49.0735 USD');
    expect(r.out).toMatch(/Re-run: {3}rejected price_band by price_band\.low \(limit 42\.5, observed 10\.00\)/);
    expect(r.out).toContain('All decisions of the order agree.');
    const j = JSON.parse((await tradectl(['recheck', f.s.carolBid.orderId, '--format', 'json'], env)).out) as { amends: { agrees: boolean; recorded: { type: string } }[]; agreesOverall: boolean };
    expect(j.amends.map((a) => [a.recorded.type, a.agrees])).toEqual([
      ['OrderAmendAccepted', true],
      ['OrderAmendRejected', true],
    ]);
    expect(j.agreesOverall).toBe(true);
  });

  it('disagrees when a recorded amend decision was changed', async () => {
    await f.pool.query(
      `update event_store.events set data = jsonb_set(data, '{reservationDelta}', '"0"') where type = 'OrderAmendAccepted' and data->>'orderId' = $1`,
      [f.s.carolBid.orderId],
    );
    const r = await tradectl(['recheck', f.s.carolBid.orderId], env);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/DISAGREES: reservationDelta: 0 → [1-9][\d.]*/);
    expect(r.out).toContain('At least one decision of the order DISAGREES.');
  });

  it('exits 66 for an unknown order', async () => {
    const r = await tradectl(['recheck', '00000000-0000-4000-8000-000000000000'], env);
    expect(r.code).toBe(66);
    expect(r.err).toContain('not found');
  });
});
