import { describe, expect, it } from 'vitest';
import { priceToTicks, quantityToLots } from '@tradecore/core-domain';
import { DEFAULT_MIX, PriceWalk, applyAccepted, applySent, decide, rolesFor, type Decision, type MarketPlan, type TraderState } from './mix.ts';
import { createRng } from './prng.ts';

const MARKETS: MarketPlan[] = [
  { marketId: 1, symbol: 'BTC-USD', baseAsset: 'BTC', quoteAsset: 'USD', tickSize: '0.01', lotSize: '0.0001', referenceTicks: 6_500_000 },
  { marketId: 2, symbol: 'SOL-USD', baseAsset: 'SOL', quoteAsset: 'USD', tickSize: '0.001', lotSize: '0.01', referenceTicks: 150_000 },
  { marketId: 3, symbol: 'XRP-USD', baseAsset: 'XRP', quoteAsset: 'USD', tickSize: '0.0001', lotSize: '1', referenceTicks: 6_000 },
];

/** Runs n decisions over `traders` traders, answering every command 202 with a counter as order id. */
function simulate(seed: string, n: number, traders = 20) {
  const roles = rolesFor(traders, DEFAULT_MIX.makerShare);
  const root = createRng(seed);
  const states: TraderState[] = roles.map((role, index) => ({ index, role, orders: [] }));
  const rngs = states.map((_, i) => root.fork(`trader-${i}`));
  const sched = createRng(`${seed}/scheduler`);
  const walk = new PriceWalk(MARKETS, DEFAULT_MIX);
  const out: (Decision & { trader: number })[] = [];
  let id = 0;
  for (let i = 0; i < n; i++) {
    const t = sched.int(0, traders - 1);
    const d = decide(states[t]!, walk, rngs[t]!, DEFAULT_MIX);
    applySent(states[t]!, d);
    applyAccepted(states[t]!, d, `o${id++}`);
    out.push({ ...d, trader: t });
  }
  return { out, states, walk };
}

describe('order mix', () => {
  it('is deterministic for a seed', () => {
    const a = simulate('mix-seed', 5_000).out;
    const b = simulate('mix-seed', 5_000).out;
    const c = simulate('other-seed', 5_000).out;
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('has makers quoting, takers crossing, and some amends and cancels', () => {
    const { out } = simulate('proportions', 40_000);
    const tags: Record<string, number> = {};
    for (const d of out) {
      const k = d.kind === 'place' ? d.tag : d.kind === 'cancel' ? `cancel:${d.reason}` : 'amend';
      tags[k] = (tags[k] ?? 0) + 1;
    }
    const share = (k: string) => (tags[k] ?? 0) / out.length;
    // 60 % makers (quote 70 / amend 12 / cancel 18), 40 % takers (ioc 55 / market 25 / fok 5 / rest 10 / cancel 5);
    // in the steady state a maker's list is full, so each new quote also cancels its oldest one.
    expect(share('quote')).toBeGreaterThan(0.25);
    expect(share('cancel:oldest')).toBeGreaterThan(0.15);
    expect(share('ioc')).toBeGreaterThan(0.15);
    expect(share('market')).toBeGreaterThan(0.07);
    expect(share('fok')).toBeGreaterThan(0.01);
    expect(share('rest')).toBeGreaterThan(0.02);
    expect(share('amend')).toBeGreaterThan(0.04);
    expect(share('cancel:user') + share('cancel:oldest')).toBeGreaterThan(0.08);
    const places = out.filter((d) => d.kind === 'place').length / out.length;
    expect(places).toBeGreaterThan(0.6);
    expect(places).toBeLessThan(0.9);
  });

  it('sends valid prices and quantities: positive multiples of tick and lot, market orders without a price', () => {
    const { out } = simulate('validity', 20_000);
    for (const d of out) {
      if (d.kind === 'place') {
        const m = MARKETS.find((x) => x.marketId === d.body.marketId)!;
        const lots = quantityToLots(d.body.quantity, m.lotSize);
        expect(lots >= 1n && lots <= BigInt(DEFAULT_MIX.maxLots)).toBe(true);
        if (d.body.type === 'market') {
          expect(d.body.price).toBeUndefined();
          expect(d.body.timeInForce).not.toBe('GTC');
        } else {
          expect(priceToTicks(d.body.price!, m.tickSize) > 0n).toBe(true);
        }
      } else if (d.kind === 'amend') {
        expect(d.body.price !== undefined || d.body.quantity !== undefined).toBe(true);
      }
    }
  });

  it('makers quote away from the mid and takers cross it', () => {
    const { out, walk } = simulate('sides', 2_000, 10);
    // the mid at decision time is not recorded; check against the bounded walk instead
    for (const d of out) {
      if (d.kind !== 'place' || d.body.type !== 'limit') continue;
      const i = walk.indexOf(d.body.marketId);
      const m = MARKETS[i]!;
      const ticks = Number(priceToTicks(d.body.price!, m.tickSize));
      const band = (m.referenceTicks * (DEFAULT_MIX.walk.maxDeviationBps + 200)) / 10_000;
      expect(Math.abs(ticks - m.referenceTicks)).toBeLessThan(band);
    }
  });

  it('keeps every trader under maxOpenPerTrader known orders (cancels the oldest first)', () => {
    const { out, states } = simulate('bounded', 30_000, 6);
    for (const s of states) expect(s.orders.length).toBeLessThanOrEqual(DEFAULT_MIX.maxOpenPerTrader);
    expect(out.some((d) => d.kind === 'cancel' && d.reason === 'oldest')).toBe(true);
  });

  it('bookkeeping: a cancel removes the order when sent, an amend updates it when accepted', () => {
    const t: TraderState = { index: 0, role: 'maker', orders: [{ orderId: 'a', marketId: 1, side: 'buy', priceTicks: 10, lots: 1 }] };
    applyAccepted(t, { kind: 'amend', orderId: 'a', body: { price: '0.2' }, after: { orderId: 'a', marketId: 1, side: 'buy', priceTicks: 20, lots: 1 } }, 'a');
    expect(t.orders[0]!.priceTicks).toBe(20);
    applySent(t, { kind: 'cancel', orderId: 'a', reason: 'user' });
    expect(t.orders).toEqual([]);
  });

  it('the price walk stays within its bounds', () => {
    const walk = new PriceWalk(MARKETS, { ...DEFAULT_MIX, walk: { stepBps: 50, maxDeviationBps: 100 } });
    const r = createRng('walk');
    for (let k = 0; k < 10_000; k++) {
      const v = walk.advance(0, r);
      expect(Number.isInteger(v)).toBe(true);
      expect(v).toBeGreaterThanOrEqual(6_435_000);
      expect(v).toBeLessThanOrEqual(6_565_000);
    }
  });

  it('roles: at least one maker and one taker', () => {
    expect(rolesFor(2, 0.99)).toEqual(['maker', 'taker']);
    expect(rolesFor(10, 0.6).filter((r) => r === 'maker')).toHaveLength(6);
  });
});
