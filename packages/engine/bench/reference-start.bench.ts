/**
 * A handler's start over a long listing history: `ReferenceData` folds every event of the markets
 * and control streams (BENCH_LISTINGS listings, default 5,000, and a halt, a resume and a kill
 * switch every 50 listings), then the first batch's `forgetBefore` builds the views from its oldest
 * input on (BENCH_FLOOR_BACK events before the head, default 100). The events are read from memory,
 * as the store would return them, so the figures are the fold's own: CPU time, and heap growth
 * after the start and after the floor (each after a full GC; run with --expose-gc, as the script does).
 *
 *   pnpm bench:reference-start
 *
 * Last line: RESULT {json}.
 */
import { performance } from 'node:perf_hooks';
import type { RecordedEvent } from '@tradecore/event-store';
import { ReferenceData } from '../src/reference-data.ts';

const LISTINGS = Number(process.env.BENCH_LISTINGS ?? 5_000);
const FLOOR_BACK = Number(process.env.BENCH_FLOOR_BACK ?? 100);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (pnpm bench:reference-start does)');

const markets: RecordedEvent[] = [];
const control: RecordedEvent[] = [];
let position = 1_000n;
const recorded = (stream: RecordedEvent[], streamId: string, type: string, data: object): void => {
  stream.push({ eventId: `${streamId}-${stream.length}`, type, data, metadata: { schemaVersion: 1 }, streamId, streamRevision: BigInt(stream.length), globalPosition: position++, recordedAt: new Date(0) } as unknown as RecordedEvent);
};
for (let id = 1; id <= LISTINGS; id++) {
  recorded(markets, 'markets', 'MarketListed', {
    marketId: id, symbol: `M${id}-USD`, baseAsset: `M${id}`, quoteAsset: 'USD', tickSize: '0.01', lotSize: '0.001', referencePrice: '100',
    makerFeeBps: 10, takerFeeBps: 20, maxOrderQuantity: '100', maxOrderNotional: '100000', priceBandBps: 1000, listedBy: 1,
  });
  if (id % 50 === 0) {
    recorded(markets, 'markets', 'MarketHalted', { marketId: id, reason: 'bench', haltedBy: 1 });
    recorded(markets, 'markets', 'MarketResumed', { marketId: id, reason: 'bench', resumedBy: 1 });
    recorded(control, 'control', 'KillSwitchEngaged', { scope: 'user', marketId: null, userId: id, reason: 'bench', changedBy: 1 });
  }
}
const all = [...markets, ...control].sort((a, b) => (a.globalPosition < b.globalPosition ? -1 : 1));
const floor = all[Math.max(0, all.length - FLOOR_BACK)]!.globalPosition;

const reference = new ReferenceData({} as never); // refresh() is not called: apply() gets the reads
gc();
const heap0 = process.memoryUsage().heapUsed;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
reference.apply([markets, control]);
const startMs = performance.now() - t0;
const startCpu = process.cpuUsage(cpu0);
const viewsAtStart = reference.keptViews;
gc();
const heapAtStartMb = (process.memoryUsage().heapUsed - heap0) / 1048576;
const t1 = performance.now();
reference.forgetBefore(floor);
const floorMs = performance.now() - t1;
gc();
const heapMb = (process.memoryUsage().heapUsed - heap0) / 1048576;
if (reference.latest().markets.size !== LISTINGS) throw new Error(`folded ${reference.latest().markets.size} markets, expected ${LISTINGS}`);

const result = {
  bench: 'reference-start',
  listings: LISTINGS,
  events: all.length,
  startMs: Number(startMs.toFixed(1)),
  startCpuMs: Number(((startCpu.user + startCpu.system) / 1000).toFixed(1)),
  viewsAtStart,
  firstFloorMs: Number(floorMs.toFixed(1)),
  viewsAfterFloor: reference.keptViews,
  heapAfterStartMb: Number(heapAtStartMb.toFixed(1)),
  heapAfterFloorMb: Number(heapMb.toFixed(1)),
};
console.log(`reference start: ${all.length} events (${LISTINGS} listings) folded in ${result.startMs} ms (${result.startCpuMs} ms CPU), ${viewsAtStart} views kept, heap +${result.heapAfterStartMb} MB; first floor ${FLOOR_BACK} events back in ${result.firstFloorMs} ms, ${result.viewsAfterFloor} views, heap +${result.heapAfterFloorMb} MB`);
console.log(`RESULT ${JSON.stringify(result)}`);
