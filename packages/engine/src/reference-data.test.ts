/**
 * ReferenceData against the real PostgreSQL store: after `forgetBefore` it keeps only the views from
 * the floor on, and answers every position — below the floor too, by folding again — exactly as a
 * copy that never forgot; across later listings and a refold of interleaved streams.
 */
import type { RecordedEvent } from '@tradecore/event-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReferenceData } from './reference-data.ts';
import { ADMIN, createTestStore, marketListed, newEvent, type TestStore } from './test-support.ts';

const halt = (marketId: number) => newEvent('MarketHalted', { marketId, reason: 'test', haltedBy: ADMIN }, ADMIN);
const killSwitch = (userId: number) => newEvent('KillSwitchEngaged', { scope: 'user', marketId: null, userId, reason: 'test', changedBy: ADMIN }, ADMIN);

describe('ReferenceData: views kept from the floor on', () => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await createTestStore('reference_data');
  });
  afterAll(async () => ts?.close());

  /** Every position worth asking about: before, at and just after each event, and past the head. */
  const probes = (events: readonly RecordedEvent[]) => [0n, ...events.flatMap((e) => [e.globalPosition, e.globalPosition + 1n]), (events.at(-1)?.globalPosition ?? 0n) + 100n];
  const reference = async () => {
    const r = new ReferenceData(ts.store);
    await r.refresh();
    return r;
  };

  it('forgets the views below the floor, and answers every position as the copy that kept them all', async () => {
    // One append each, so each event has a position of its own: six listings, a halt, two kill switches.
    for (const e of [marketListed(1), marketListed(2), halt(1), marketListed(3)]) await ts.store.appendToStream('markets', [e], { expectedRevision: 'any' });
    await ts.store.appendToStream('control', [killSwitch(7)], { expectedRevision: 'any' });
    for (const e of [marketListed(4), marketListed(5), marketListed(6)]) await ts.store.appendToStream('markets', [e], { expectedRevision: 'any' });
    await ts.store.appendToStream('control', [killSwitch(8)], { expectedRevision: 'any' });
    const events = [...(await ts.store.readStream('markets')), ...(await ts.store.readStream('control'))].sort((a, b) => (a.globalPosition < b.globalPosition ? -1 : 1));
    expect(events).toHaveLength(9);

    const all = await reference();
    const forgetting = await reference();
    expect(forgetting.keptViews).toBe(10);
    // Inputs before the sixth event are done with: the views after the first five events are dropped.
    forgetting.forgetBefore(events[5]!.globalPosition);
    expect(forgetting.keptViews).toBe(5);
    for (const p of probes(events)) expect(forgetting.at(p), `at ${p}`).toEqual(all.at(p));
    expect(forgetting.at(events[3]!.globalPosition).markets.size).toBe(2);
    expect(forgetting.at(events[3]!.globalPosition).halted.has(1)).toBe(true);
    // A lower floor does not bring views back; a higher one drops more.
    forgetting.forgetBefore(events[1]!.globalPosition);
    expect(forgetting.keptViews).toBe(5);
    forgetting.forgetBefore(events[8]!.globalPosition + 1n);
    expect(forgetting.keptViews).toBe(1);
    expect(forgetting.latest()).toEqual(all.latest());
    for (const p of probes(events)) expect(forgetting.at(p), `at ${p}`).toEqual(all.at(p));

    // Later listings are folded onto the kept view.
    await ts.store.appendToStream('markets', [marketListed(9)], { expectedRevision: 'any' });
    await Promise.all([all.refresh(), forgetting.refresh()]);
    expect(forgetting.keptViews).toBe(2);
    expect(forgetting.latest().markets.has(9)).toBe(true);
    const now = [...events, ...(await ts.store.readStream('markets', { fromRevision: 7n }))];
    for (const p of probes(now)) expect(forgetting.at(p), `at ${p}`).toEqual(all.at(p));
  });

  it('keeps its floor when streams read apart interleave and it folds everything again', async () => {
    const markets = await ts.store.readStream('markets');
    const control = await ts.store.readStream('control');
    const events = [...markets, ...control].sort((a, b) => (a.globalPosition < b.globalPosition ? -1 : 1));
    const all = await reference();
    // The markets stream first, the control stream later: its events lie between folded ones.
    const r = new ReferenceData(ts.store);
    r.apply([markets, []]);
    r.forgetBefore(markets[4]!.globalPosition);
    r.apply([[], control]);
    expect(r.keptViews).toBe(events.length + 1 - events.filter((e) => e.globalPosition < markets[4]!.globalPosition).length);
    for (const p of probes(events)) expect(r.at(p), `at ${p}`).toEqual(all.at(p));
  });
});
