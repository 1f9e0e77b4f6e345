/**
 * Registries kept in memory and caught up from their streams before each decision. The stream's
 * revision is the expected revision of the next append, so two instances never both take a
 * username, a symbol or an id.
 */
import { parseEvent, streams, type EventData } from '@tradecore/core-domain';
import type { EventStore } from '@tradecore/event-store';

abstract class StreamDirectory {
  /** Revision of the last event folded; null when the stream does not exist yet. */
  revision: bigint | null = null;
  private catching: Promise<void> | undefined;

  constructor(
    protected readonly store: EventStore,
    private readonly stream: string,
  ) {}

  protected abstract fold(type: string, schemaVersion: number, data: unknown): void;

  /** Folds every event appended since the last catch-up; concurrent callers share one read. */
  catchUp(): Promise<void> {
    this.catching ??= (async () => {
      try {
        for (;;) {
          const from = this.revision === null ? 0n : this.revision + 1n;
          const events = await this.store.readStream(this.stream, { fromRevision: from, maxCount: 1000 });
          for (const e of events) {
            this.fold(e.type, e.metadata.schemaVersion, e.data);
            this.revision = e.streamRevision;
          }
          if (events.length < 1000) return;
        }
      } finally {
        this.catching = undefined;
      }
    })();
    return this.catching;
  }

  expectedRevision(): bigint | 'no_stream' {
    return this.revision ?? 'no_stream';
  }

  /** The id the next registry entry gets: revision + 1, 1-based. */
  nextId(): number {
    return this.revision === null ? 1 : Number(this.revision) + 2;
  }
}

export type UserRecord = EventData<'UserRegistered'>;

export class UserDirectory extends StreamDirectory {
  private readonly byName = new Map<string, UserRecord>();
  private readonly byId = new Map<number, UserRecord>();

  constructor(store: EventStore) {
    super(store, streams.users);
  }

  protected fold(type: string, schemaVersion: number, data: unknown): void {
    const e = parseEvent(type, schemaVersion, data);
    if (e.type !== 'UserRegistered') return;
    this.byName.set(e.data.username.toLowerCase(), e.data);
    this.byId.set(e.data.userId, e.data);
  }

  findByName(username: string): UserRecord | undefined {
    return this.byName.get(username.toLowerCase());
  }

  findById(userId: number): UserRecord | undefined {
    return this.byId.get(userId);
  }
}

export type MarketRecord = EventData<'MarketListed'> & { halted: boolean };

export class MarketDirectory extends StreamDirectory {
  private readonly byId = new Map<number, MarketRecord>();
  private readonly bySymbol = new Map<string, MarketRecord>();

  constructor(store: EventStore) {
    super(store, streams.markets);
  }

  protected fold(type: string, schemaVersion: number, data: unknown): void {
    const e = parseEvent(type, schemaVersion, data);
    switch (e.type) {
      case 'MarketListed': {
        const record = { ...e.data, halted: false };
        this.byId.set(e.data.marketId, record);
        this.bySymbol.set(e.data.symbol.toUpperCase(), record);
        return;
      }
      case 'MarketHalted':
      case 'MarketResumed': {
        const m = this.byId.get(e.data.marketId);
        if (m) m.halted = e.type === 'MarketHalted';
        return;
      }
      default:
        return;
    }
  }

  find(marketId: number): MarketRecord | undefined {
    return this.byId.get(marketId);
  }

  findBySymbol(symbol: string): MarketRecord | undefined {
    return this.bySymbol.get(symbol.toUpperCase());
  }

  all(): MarketRecord[] {
    return [...this.byId.values()];
  }
}
