import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EventData } from '../events.ts';
import { catalogueEvent } from '../order/decider.ts';
import { spec } from '../order/given-when-then.testkit.ts';
import { ControlCommandError, controlDecider, evolveControl, foldControl, initialControlState, isBlocked, killSwitchCovers, marketSpec, type ControlState } from './control.ts';

const listed: EventData<'MarketListed'> = {
  marketId: 1,
  symbol: 'BTC-USD',
  baseAsset: 'BTC',
  quoteAsset: 'USD',
  tickSize: '0.01',
  lotSize: '0.001',
  referencePrice: '100',
  makerFeeBps: 10,
  takerFeeBps: 20,
  maxOrderQuantity: '100',
  maxOrderNotional: '100000',
  priceBandBps: 1000,
  listedBy: 1,
};
const MarketListed = catalogueEvent('MarketListed', listed);
const MarketListed2 = catalogueEvent('MarketListed', { ...listed, marketId: 2, symbol: 'ETH-USD', baseAsset: 'ETH' });
const ks = (scope: 'global' | 'market' | 'user', marketId: number | null, userId: number | null) => ({
  scope,
  marketId,
  userId,
  reason: 'ops',
  changedBy: 1,
});

function fold(events: Parameters<typeof evolveControl>[1][]): ControlState {
  return events.reduce(evolveControl, initialControlState());
}

describe('control view', () => {
  it('lists markets from the markets stream', () => {
    const c = fold([MarketListed]);
    expect(marketSpec(c, 1)?.symbol).toBe('BTC-USD');
    expect(marketSpec(c, 9)).toBeNull();
    expect(marketSpec(c, 1)).not.toHaveProperty('listedBy');
  });

  it('blocks nothing by default', () => {
    expect(isBlocked(fold([MarketListed]), 7, 1)).toBeNull();
  });

  it('blocks a halted market until it resumes', () => {
    const halted = fold([MarketListed, catalogueEvent('MarketHalted', { marketId: 1, reason: 'auction', haltedBy: 1 })]);
    expect(isBlocked(halted, 7, 1)).toEqual({ reason: 'market_halted', rule: 'market_halted', detail: 'auction' });
    expect(isBlocked(halted, 7, 2)).toBeNull();
    const resumed = evolveControl(halted, catalogueEvent('MarketResumed', { marketId: 1, reason: 'ok', resumedBy: 1 }));
    expect(isBlocked(resumed, 7, 1)).toBeNull();
  });

  it('applies kill switches by scope, global first', () => {
    const user = fold([catalogueEvent('KillSwitchEngaged', ks('user', null, 7))]);
    expect(isBlocked(user, 7, 1)?.rule).toBe('kill_switch.user');
    expect(isBlocked(user, 8, 1)).toBeNull();
    const userInMarket = fold([catalogueEvent('KillSwitchEngaged', ks('user', 2, 7))]);
    expect(isBlocked(userInMarket, 7, 1)).toBeNull();
    expect(isBlocked(userInMarket, 7, 2)?.reason).toBe('kill_switch');
    const market = fold([catalogueEvent('KillSwitchEngaged', ks('market', 1, null))]);
    expect(isBlocked(market, 8, 1)?.rule).toBe('kill_switch.market');
    expect(isBlocked(market, 8, 2)).toBeNull();
    const all = evolveControl(market, catalogueEvent('KillSwitchEngaged', ks('global', null, null)));
    expect(isBlocked(all, 8, 2)?.rule).toBe('kill_switch.global');
    expect(isBlocked(all, 8, 1)?.rule).toBe('kill_switch.global');
    const released = evolveControl(all, catalogueEvent('KillSwitchReleased', ks('global', null, null)));
    expect(isBlocked(released, 8, 2)).toBeNull();
    expect(isBlocked(released, 8, 1)?.rule).toBe('kill_switch.market');
  });

  it('prefers a kill switch over a halt', () => {
    const c = fold([
      MarketListed,
      catalogueEvent('MarketHalted', { marketId: 1, reason: 'x', haltedBy: 1 }),
      catalogueEvent('KillSwitchEngaged', ks('user', null, 7)),
    ]);
    expect(isBlocked(c, 7, 1)?.reason).toBe('kill_switch');
    expect(isBlocked(c, 8, 1)?.reason).toBe('market_halted');
  });

  it('tells which orders a switch covers', () => {
    expect(killSwitchCovers({ scope: 'global', marketId: null, userId: null }, 1, 1)).toBe(true);
    expect(killSwitchCovers({ scope: 'market', marketId: 2, userId: null }, 1, 1)).toBe(false);
    expect(killSwitchCovers({ scope: 'user', marketId: null, userId: 1 }, 1, 5)).toBe(true);
  });
});

describe('foldControl: a run of events folded at once', () => {
  const marketId = fc.integer({ min: 1, max: 4 });
  const controlEvent = fc.oneof(
    marketId.map((id) => catalogueEvent('MarketListed', { ...listed, marketId: id, symbol: `M${id}-USD`, baseAsset: `M${id}` })),
    fc.tuple(marketId, fc.constantFrom('news', 'auction')).map(([id, reason]) => catalogueEvent('MarketHalted', { marketId: id, reason, haltedBy: 1 })),
    marketId.map((id) => catalogueEvent('MarketResumed', { marketId: id, reason: 'ok', resumedBy: 1 })),
    fc
      .oneof(fc.constant(ks('global', null, null)), marketId.map((id) => ks('market', id, null)), fc.tuple(fc.option(marketId), fc.integer({ min: 7, max: 9 })).map(([m, u]) => ks('user', m, u)))
      .chain((k) => fc.constantFrom(catalogueEvent('KillSwitchEngaged', k), catalogueEvent('KillSwitchReleased', k))),
  );
  /** The view as a plain value, so states compare whatever maps or arrays hold them. */
  const plain = (c: ControlState) => ({ markets: [...c.markets].sort(([a], [b]) => a - b), halted: [...c.halted].sort(([a], [b]) => a - b), killSwitches: [...c.killSwitches] });

  it('equals the fold one event at a time, and leaves the state it started from as it was', () => {
    fc.assert(
      fc.property(fc.array(controlEvent, { maxLength: 30 }), fc.array(controlEvent, { maxLength: 30 }), (before, run) => {
        const start = fold(before);
        const startAsItWas = plain(start);
        expect(plain(foldControl(start, run))).toEqual(plain(run.reduce(evolveControl, start)));
        expect(plain(start)).toEqual(startAsItWas);
        expect(plain(foldControl(initialControlState(), [...before, ...run]))).toEqual(plain(fold([...before, ...run])));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the latest listing, the latest halt reason, and each switch once in the order engaged', () => {
    const c = foldControl(initialControlState(), [
      MarketListed,
      catalogueEvent('KillSwitchEngaged', ks('user', null, 7)),
      catalogueEvent('MarketListed', { ...listed, referencePrice: '200' }),
      catalogueEvent('MarketHalted', { marketId: 1, reason: 'news', haltedBy: 1 }),
      catalogueEvent('KillSwitchEngaged', ks('global', null, null)),
      catalogueEvent('KillSwitchEngaged', ks('user', null, 7)),
      catalogueEvent('MarketHalted', { marketId: 1, reason: 'auction', haltedBy: 1 }),
      MarketListed2,
      catalogueEvent('KillSwitchReleased', ks('user', null, 7)),
      catalogueEvent('MarketResumed', { marketId: 2, reason: 'not halted', resumedBy: 1 }),
    ]);
    expect([...c.markets.keys()]).toEqual([1, 2]);
    expect(c.markets.get(1)?.referencePrice).toBe('200');
    expect([...c.halted]).toEqual([[1, 'auction']]);
    expect(c.killSwitches.map((k) => k.scope)).toEqual(['global']);
  });

  it('returns the very state when nothing in the run changes it', () => {
    const start = fold([MarketListed]);
    expect(foldControl(start, [catalogueEvent('MarketResumed', { marketId: 1, reason: 'ok', resumedBy: 1 }), catalogueEvent('KillSwitchReleased', ks('user', null, 7))])).toBe(start);
  });
});

describe('isBlocked: the engaged switches looked up by what they cover', () => {
  /** The definition: the first engaged switch of the first scope that covers, then the halt. */
  function blockedByScan(control: ControlState, userId: number, marketId: number) {
    for (const scope of ['global', 'market', 'user'] as const) {
      const k = control.killSwitches.find((s) => s.scope === scope && killSwitchCovers(s, userId, marketId));
      if (k) return { reason: 'kill_switch', rule: `kill_switch.${scope}`, detail: k.reason };
    }
    const halt = control.halted.get(marketId);
    return halt === undefined ? null : { reason: 'market_halted', rule: 'market_halted', detail: halt };
  }
  const marketId = fc.integer({ min: 1, max: 3 });
  const userId = fc.integer({ min: 7, max: 9 });
  const switchEvent = fc
    .tuple(
      fc.oneof(fc.constant(ks('global', null, null)), marketId.map((id) => ks('market', id, null)), fc.tuple(fc.option(marketId), userId).map(([m, u]) => ks('user', m, u))),
      fc.constantFrom('desk', 'risk', 'ops', 'compliance'),
      fc.boolean(),
    )
    .map(([k, reason, engage]) => catalogueEvent(engage ? 'KillSwitchEngaged' : 'KillSwitchReleased', { ...k, reason }));
  const haltEvent = fc
    .tuple(marketId, fc.boolean())
    .map(([id, halt]) => (halt ? catalogueEvent('MarketHalted', { marketId: id, reason: 'news', haltedBy: 1 }) : catalogueEvent('MarketResumed', { marketId: id, reason: 'ok', resumedBy: 1 })));

  it('answers as a scan of the list in the order engaged, at every step of any history', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(switchEvent, switchEvent, haltEvent), { maxLength: 40 }), (events) => {
        let c = initialControlState();
        for (const event of events) {
          c = evolveControl(c, event);
          for (let u = 7; u <= 9; u++) for (let m = 1; m <= 3; m++) expect(isBlocked(c, u, m)).toEqual(blockedByScan(c, u, m));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("reports the user's switch engaged first when one for all markets and one for the market both cover", () => {
    const inMarketFirst = fold([
      catalogueEvent('KillSwitchEngaged', { ...ks('user', 2, 7), reason: 'in market' }),
      catalogueEvent('KillSwitchEngaged', { ...ks('user', null, 7), reason: 'everywhere' }),
    ]);
    expect(isBlocked(inMarketFirst, 7, 2)?.detail).toBe('in market');
    expect(isBlocked(inMarketFirst, 7, 1)?.detail).toBe('everywhere');
    const released = evolveControl(inMarketFirst, catalogueEvent('KillSwitchReleased', ks('user', 2, 7)));
    expect(isBlocked(released, 7, 2)?.detail).toBe('everywhere');
  });

  it('finds the one user switch that covers among thousands engaged', () => {
    const many = foldControl(
      initialControlState(),
      Array.from({ length: 5000 }, (_, i) => catalogueEvent('KillSwitchEngaged', { ...ks('user', null, 1000 + i), reason: `desk ${i}` })),
    );
    expect(isBlocked(many, 5999, 1)?.detail).toBe('desk 4999');
    expect(isBlocked(many, 7, 1)).toBeNull();
  });
});

describe('control decider', () => {
  const given = spec(controlDecider).given;

  it('engages a kill switch once', () => {
    given([])
      .when({ kind: 'EngageKillSwitch', scope: 'global', marketId: null, userId: null, reason: 'ops', by: 1 })
      .then([catalogueEvent('KillSwitchEngaged', ks('global', null, null))]);
    given([catalogueEvent('KillSwitchEngaged', ks('global', null, null))])
      .when({ kind: 'EngageKillSwitch', scope: 'global', marketId: null, userId: null, reason: 'again', by: 1 })
      .thenNothing();
  });

  it('releases only an engaged switch', () => {
    given([])
      .when({ kind: 'ReleaseKillSwitch', scope: 'user', marketId: null, userId: 3, reason: 'ops', by: 1 })
      .thenNothing();
    given([catalogueEvent('KillSwitchEngaged', ks('user', null, 3))])
      .when({ kind: 'ReleaseKillSwitch', scope: 'user', marketId: null, userId: 3, reason: 'ops', by: 1 })
      .then([catalogueEvent('KillSwitchReleased', ks('user', null, 3))]);
  });

  it('refuses ill-formed scopes and unknown markets', () => {
    given([]).when({ kind: 'EngageKillSwitch', scope: 'market', marketId: null, userId: null, reason: '', by: 1 }).thenThrows(ControlCommandError);
    given([]).when({ kind: 'EngageKillSwitch', scope: 'global', marketId: 1, userId: null, reason: '', by: 1 }).thenThrows(ControlCommandError);
    given([]).when({ kind: 'EngageKillSwitch', scope: 'user', marketId: null, userId: null, reason: '', by: 1 }).thenThrows(ControlCommandError);
    given([]).when({ kind: 'EngageKillSwitch', scope: 'market', marketId: 1, userId: null, reason: '', by: 1 }).thenThrows(ControlCommandError);
    given([]).when({ kind: 'HaltMarket', marketId: 1, reason: '', by: 1 }).thenThrows(ControlCommandError);
  });

  it('halts and resumes a listed market, idempotently', () => {
    given([MarketListed, MarketListed2])
      .when({ kind: 'HaltMarket', marketId: 2, reason: 'news', by: 1 })
      .then([catalogueEvent('MarketHalted', { marketId: 2, reason: 'news', haltedBy: 1 })]);
    given([MarketListed, catalogueEvent('MarketHalted', { marketId: 1, reason: 'news', haltedBy: 1 })])
      .when({ kind: 'HaltMarket', marketId: 1, reason: 'news', by: 1 })
      .thenNothing();
    given([MarketListed]).when({ kind: 'ResumeMarket', marketId: 1, reason: 'ok', by: 1 }).thenNothing();
    given([MarketListed, catalogueEvent('MarketHalted', { marketId: 1, reason: 'news', haltedBy: 1 })])
      .when({ kind: 'ResumeMarket', marketId: 1, reason: 'ok', by: 2 })
      .then([catalogueEvent('MarketResumed', { marketId: 1, reason: 'ok', resumedBy: 2 })]);
  });
});
