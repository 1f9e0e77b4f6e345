/**
 * Last traded price of a market as of a global position, for the risk handler's price band: the
 * price of the last TradeExecuted in `market-{id}` recorded before the input, so a redelivered or
 * replayed input sees the same price.
 *
 * Per market it keeps the recent trades (bounded) and the revisions it has scanned: the first use
 * reads backwards until it finds a trade (or the stream's start), each refresh reads forwards only
 * the new events, and a lookup older than what is kept pages further back.
 */
import { streams } from '@tradecore/core-domain';
import type { EventStore, RecordedEvent, StreamRead } from '@tradecore/event-store';

interface Trade {
  position: bigint;
  revision: bigint;
  price: string;
}

interface MarketTrades {
  /** Ascending by position. */
  trades: Trade[];
  /** Newest revision scanned (-1: empty stream). */
  tailRevision: bigint;
  /** Oldest revision scanned; 0 means the scan reached the start. */
  floorRevision: bigint;
}

const PAGE = 256;
const KEEP = 4_096;

function tradeOf(e: RecordedEvent): Trade | null {
  if (e.type !== 'TradeExecuted') return null;
  const price = (e.data as { price?: unknown } | null)?.price;
  return typeof price === 'string' ? { position: e.globalPosition, revision: e.streamRevision, price } : null;
}

export class LastPrices {
  private readonly markets = new Map<number, MarketTrades>();

  constructor(private readonly store: EventStore) {}

  clear(): void {
    this.markets.clear();
  }

  /** Reads backwards from `fromRevision` (or the end) until a trade older than `before` or the start. */
  private async scanBack(stream: string, m: MarketTrades, fromRevision: bigint | null, before: bigint | null): Promise<void> {
    let from = fromRevision;
    for (;;) {
      if (from !== null && from < 0n) return;
      const page = await this.store.readStream(stream, { direction: 'backwards', maxCount: PAGE, ...(from !== null ? { fromRevision: from } : {}) });
      if (page.length === 0) {
        m.floorRevision = 0n;
        return;
      }
      if (from === null) m.tailRevision = page[0]!.streamRevision;
      const older: Trade[] = [];
      for (const e of page) {
        const t = tradeOf(e);
        if (t) older.push(t);
      }
      older.reverse();
      m.trades = [...older, ...m.trades];
      const oldest = page[page.length - 1]!;
      m.floorRevision = oldest.streamRevision;
      const found = older.some((t) => before === null || t.position < before);
      if (found || oldest.streamRevision === 0n) return;
      from = oldest.streamRevision - 1n;
    }
  }

  /** The catch-up reads of the markets among `marketIds` read so far (a market first used later is read then). */
  reads(marketIds: Iterable<number>): { marketId: number; read: StreamRead }[] {
    const out: { marketId: number; read: StreamRead }[] = [];
    for (const marketId of marketIds) {
      const m = this.markets.get(marketId);
      if (m) out.push({ marketId, read: { stream: streams.market(marketId), fromRevision: m.tailRevision + 1n, maxCount: 4 * PAGE } });
    }
    return out;
  }

  /**
   * Folds one page a catch-up read returned for `marketId` (from its `reads` entry, wherever it was
   * read). False when the page was full: more may follow, and refresh(marketId) reads the rest.
   */
  apply(marketId: number, page: readonly RecordedEvent[]): boolean {
    const m = this.markets.get(marketId);
    if (!m) return true;
    for (const e of page) {
      if (e.streamRevision <= m.tailRevision) continue;
      const t = tradeOf(e);
      if (t) m.trades.push(t);
      m.tailRevision = e.streamRevision;
    }
    if (m.trades.length > KEEP) {
      m.trades = m.trades.slice(m.trades.length - KEEP);
      m.floorRevision = m.trades[0]!.revision;
    }
    return page.length < 4 * PAGE;
  }

  /** Catch up one market read so far (call after a batch arrived; a market first used later is read then). */
  async refresh(marketId: number): Promise<void> {
    for (;;) {
      const [entry] = this.reads([marketId]);
      if (!entry) return;
      const page = await this.store.readStream(entry.read.stream, { fromRevision: entry.read.fromRevision, maxCount: 4 * PAGE });
      if (this.apply(marketId, page)) return;
    }
  }

  private async track(marketId: number): Promise<MarketTrades> {
    const m: MarketTrades = { trades: [], tailRevision: -1n, floorRevision: 0n };
    await this.scanBack(streams.market(marketId), m, null, null);
    this.markets.set(marketId, m);
    return m;
  }

  /** Price of the last trade recorded before `position`, or null (none). Call refresh() after a batch arrived. */
  async before(marketId: number, position: bigint): Promise<string | null> {
    const m = this.markets.get(marketId) ?? (await this.track(marketId));
    for (;;) {
      // Last trade with position < `position` (binary search).
      let lo = 0;
      let hi = m.trades.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (m.trades[mid]!.position < position) lo = mid + 1;
        else hi = mid;
      }
      if (lo > 0) return m.trades[lo - 1]!.price;
      if (m.floorRevision <= 0n) return null;
      await this.scanBack(streams.market(marketId), m, m.floorRevision - 1n, position);
    }
  }
}
