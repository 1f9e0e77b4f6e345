/**
 * Registries kept in memory and caught up from their streams before each decision. The stream's
 * revision is the expected revision of the next append, so two instances never both take a
 * username, a symbol or an id.
 */
import { parseEvent, streams, type EventData } from '@tradecore/core-domain';
import type { EventStore } from '@tradecore/event-store';
import type { Vault } from '@tradecore/vault';

abstract class StreamDirectory {
  /** Revision of the last event folded; null when the stream does not exist yet. */
  revision: bigint | null = null;
  private catching: Promise<void> | undefined;

  constructor(
    protected readonly store: EventStore,
    private readonly stream: string,
  ) {}

  protected abstract fold(type: string, schemaVersion: number, data: unknown): void | Promise<void>;

  /** Folds every event appended since the last catch-up; concurrent callers share one read. */
  catchUp(): Promise<void> {
    this.catching ??= (async () => {
      try {
        for (;;) {
          const from = this.revision === null ? 0n : this.revision + 1n;
          const events = await this.store.readStream(this.stream, { fromRevision: from, maxCount: 1000 });
          for (const e of events) {
            await this.fold(e.type, e.metadata.schemaVersion, e.data);
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

  /** With a vault, usernames and password hashes are sealed in the log and opened here. */
  constructor(
    store: EventStore,
    private readonly vault?: Vault,
  ) {
    super(store, streams.users);
  }

  protected async fold(type: string, schemaVersion: number, data: unknown): Promise<void> {
    const e = parseEvent(type, schemaVersion, data);
    if (e.type !== 'UserRegistered') return;
    let record = e.data;
    if (this.vault) {
      const username = await this.vault.open('username', e.data.username);
      const passwordHash = await this.vault.open('passwordHash', e.data.passwordHash);
      // A forgotten (shredded) user can no longer be found or log in.
      if (username === null || passwordHash === null) {
        this.byId.set(e.data.userId, { ...e.data, username: '', passwordHash: '' });
        return;
      }
      record = { ...e.data, username, passwordHash };
    }
    this.byName.set(record.username.toLowerCase(), record);
    this.byId.set(record.userId, record);
  }

  /** Drops a user whose personal data was just shredded. */
  forget(userId: number): void {
    const record = this.byId.get(userId);
    if (record?.username) this.byName.delete(record.username.toLowerCase());
    if (record) this.byId.set(userId, { ...record, username: '', passwordHash: '' });
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

  /** A listed market, reading the registry only when the id is not known yet (listings are append-only). */
  async resolve(marketId: number): Promise<MarketRecord | undefined> {
    const known = this.byId.get(marketId);
    if (known) return known;
    await this.catchUp();
    return this.byId.get(marketId);
  }

  findBySymbol(symbol: string): MarketRecord | undefined {
    return this.bySymbol.get(symbol.toUpperCase());
  }

  all(): MarketRecord[] {
    return [...this.byId.values()];
  }
}
