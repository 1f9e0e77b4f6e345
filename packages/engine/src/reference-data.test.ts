/**
 * ReferenceData against the real PostgreSQL store: until the first `forgetBefore` it keeps only the
 * newest view, after it only the views from the floor on, and answers every position — below the
 * floor too, by folding again — exactly as the fold of the events before it, one at a time; across
 * later listings and a refold of interleaved streams.
 */
import { evolveControl, initialControlState, parseEvent, recordedSchemaVersion, type ControlState } from '@tradecore/core-domain';
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
  /** The view before `position` as the events' one-at-a-time fold: what every answer must equal. */
  const stepByStep = (events: readonly RecordedEvent[], position: bigint): ControlState =>
    events.filter((e) => e.globalPosition < position).reduce((c, e) => evolveControl(c, parseEvent(e.type, recordedSchemaVersion(e.metadata), e.data)), initialControlState());
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
    // Before any input asked, only the newest view is kept; older positions are folded again.
    expect(forgetting.keptViews).toBe(1);
    for (const p of probes(events)) expect(all.at(p), `at ${p}`).toEqual(stepByStep(events, p));
    // Inputs before the sixth event are done with: the views from the sixth event on are kept.
    forgetting.forgetBefore(events[5]!.globalPosition);
    expect(forgetting.keptViews).toBe(5);
    for (const p of probes(events)) expect(forgetting.at(p), `at ${p}`).toEqual(stepByStep(events, p));
    expect(forgetting.at(events[3]!.globalPosition).markets.size).toBe(2);
    expect(forgetting.at(events[3]!.globalPosition).halted.has(1)).toBe(true);
    // A lower floor does not bring views back; a higher one drops more.
    forgetting.forgetBefore(events[1]!.globalPosition);
    expect(forgetting.keptViews).toBe(5);
    forgetting.forgetBefore(events[8]!.globalPosition + 1n);
    expect(forgetting.keptViews).toBe(1);
    expect(forgetting.latest()).toEqual(all.latest());
    for (const p of probes(events)) expect(forgetting.at(p), `at ${p}`).toEqual(stepByStep(events, p));

    // Later listings are folded onto the kept view.
    await ts.store.appendToStream('markets', [marketListed(9)], { expectedRevision: 'any' });
    await Promise.all([all.refresh(), forgetting.refresh()]);
    expect(forgetting.keptViews).toBe(2);
    expect(all.keptViews).toBe(1);
    expect(forgetting.latest().markets.has(9)).toBe(true);
    const now = [...events, ...(await ts.store.readStream('markets', { fromRevision: 7n }))];
    for (const p of probes(now)) {
      expect(forgetting.at(p), `at ${p}`).toEqual(stepByStep(now, p));
      expect(all.at(p), `at ${p}`).toEqual(stepByStep(now, p));
    }
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
    for (const p of probes(events)) expect(r.at(p), `at ${p}`).toEqual(stepByStep(events, p));
    expect(all.latest()).toEqual(stepByStep(events, events.at(-1)!.globalPosition + 1n));
  });

  it('starts over many listings with one view, and keeps views from the first floor on', async () => {
    const listings = Array.from({ length: 300 }, (_, i) => marketListed(100 + i));
    await ts.store.appendToStream('markets', listings.slice(0, 150), { expectedRevision: 'any' });
    await ts.store.appendToStream('markets', listings.slice(150), { expectedRevision: 'any' });
    const events = [...(await ts.store.readStream('markets')), ...(await ts.store.readStream('control'))].sort((a, b) => (a.globalPosition < b.globalPosition ? -1 : 1));
    const r = await reference();
    expect(r.keptViews).toBe(1);
    expect(r.latest()).toEqual(stepByStep(events, events.at(-1)!.globalPosition + 1n));
    expect(r.latest().markets.size).toBe(new Set(events.filter((e) => e.type === 'MarketListed').map((e) => (e.data as { marketId: number }).marketId)).size);
    // The first batch's oldest input lies inside the second append: the views from there on are built.
    const floorAt = events.length - 100;
    r.forgetBefore(events[floorAt]!.globalPosition);
    expect(r.keptViews).toBe(101);
    for (const e of [events[0]!, events[floorAt - 1]!, events[floorAt]!, events[floorAt + 50]!, events.at(-1)!])
      for (const p of [e.globalPosition, e.globalPosition + 1n]) expect(r.at(p), `at ${p}`).toEqual(stepByStep(events, p));
  });
});
