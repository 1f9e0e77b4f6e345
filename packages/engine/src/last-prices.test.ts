import { readStreamsForwards } from '@tradecore/event-store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LastPrices } from './last-prices.ts';
import { createTestStore, newEvent, type TestStore } from './test-support.ts';

const trade = (price: string) => newEvent('TradeExecuted', { price }, null);
const rested = () => newEvent('OrderRested', { orderId: 'o' }, null);

describe('LastPrices: catch-up reads shared with other streams (the risk handler reads them in one round trip)', () => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await createTestStore('engine_last_prices');
  });
  afterAll(async () => {
    await ts?.close();
  });

  it('reads only markets already tracked, folds the pages it is given, and reads a full page on by itself', async () => {
    const { store } = ts;
    const prices = new LastPrices(store);
    const first = await store.appendToStream('market-7', [rested(), trade('100.5')]);
    // Nothing tracked yet: a catch-up reads nothing; the first lookup tracks the market.
    expect(prices.reads([7, 8])).toEqual([]);
    expect(await prices.before(7, first.position + 1n)).toBe('100.5');

    const later = await store.appendToStream('market-7', [trade('101'), rested(), trade('102.25')]);
    const reads = prices.reads([7, 8]);
    expect(reads.map((r) => [r.marketId, r.read.stream, r.read.fromRevision])).toEqual([[7, 'market-7', 2n]]);
    const [page] = await readStreamsForwards(store, reads.map((r) => r.read));
    expect(prices.apply(7, page!)).toBe(true);
    // The same page again (a retried catch-up) changes nothing.
    expect(prices.apply(7, page!)).toBe(true);
    expect(await prices.before(7, later.position + 1n)).toBe('102.25');
    // As of the first new trade's position: the trade before it.
    expect(await prices.before(7, later.position - 2n)).toBe('100.5');
    expect(await prices.before(7, later.position - 1n)).toBe('101');

    // More than a page (1,024 events) arrives: apply says so, refresh reads the rest.
    const many = [...Array.from({ length: 1_030 }, () => rested()), trade('99.75')];
    const last = await store.appendToStream('market-7', many);
    const [next] = await readStreamsForwards(store, prices.reads([7]).map((r) => r.read));
    expect(next).toHaveLength(1_024);
    expect(prices.apply(7, next!)).toBe(false);
    expect(await prices.before(7, last.position + 1n)).toBe('102.25');
    await prices.refresh(7);
    expect(await prices.before(7, last.position + 1n)).toBe('99.75');
    expect(prices.reads([7])[0]!.read.fromRevision).toBe(last.nextExpectedRevision + 1n);
  });
});
