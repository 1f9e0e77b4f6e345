/**
 * Registries kept in memory and caught up from their streams before each decision. The stream's
 * revision is the expected revision of the next append, so two instances never both take a
 * username, a symbol or an id.
 */
import { parseEvent, streams, type EventData } from '@tradecore/core-domain';
import type { EventStore, RecordedEvent } from '@tradecore/event-store';
import type { Vault } from '@tradecore/vault';

abstract class StreamDirectory {
  /** Revision of the last event folded; null when the stream does not exist yet. */
  revision: bigint | null = null;
  private catching: Promise<void> | undefined;

  constructor(
    protected readonly store: EventStore,
    private readonly stream: string,
  ) {}

  protected abstract fold(type: string, schemaVersion: number, data: unknown, recorded: RecordedEvent): void | Promise<void>;

  /** Folds every event appended since the last catch-up; concurrent callers share one read. */
  catchUp(): Promise<void> {
    this.catching ??= (async () => {
      try {
        for (;;) {
          const from = this.revision === null ? 0n : this.revision + 1n;
          const events = await this.store.readStream(this.stream, { fromRevision: from, maxCount: 1000 });
          for (const e of events) {
            await this.fold(e.type, e.metadata.schemaVersion, e.data, e);
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

/** A recorded `UserForgotten`: who forgot whom, why, when, and where it is in the log. */
export type ErasureRecord = EventData<'UserForgotten'> & { forgottenAt: string; position: bigint };

/**
 * The `erasures` stream: which users were forgotten (right to erasure). Every instance that learns
 * of an erasure from the log also shreds the user's data key (idempotent), which drops the key from
 * its vault cache and finishes an erasure whose writer stopped between the append and the shred.
 */
export class ErasureDirectory extends StreamDirectory {
  private readonly byUser = new Map<number, ErasureRecord>();

  constructor(
    store: EventStore,
    private readonly vault: Vault | undefined,
    private readonly onForgotten: (userId: number) => void,
  ) {
    super(store, streams.erasures);
  }

  protected async fold(type: string, schemaVersion: number, data: unknown, recorded: RecordedEvent): Promise<void> {
    const e = parseEvent(type, schemaVersion, data);
    if (e.type !== 'UserForgotten' || this.byUser.has(e.data.userId)) return;
    if (this.vault) await this.vault.shred(subjectOf(e.data.userId));
    this.byUser.set(e.data.userId, { ...e.data, forgottenAt: recorded.metadata.occurredAt, position: recorded.globalPosition });
    this.onForgotten(e.data.userId);
  }

  find(userId: number): ErasureRecord | undefined {
    return this.byUser.get(userId);
  }
}

/** The vault subject that holds a user's data key. */
export function subjectOf(userId: number): string {
  return `user-${userId}`;
}

export class UserDirectory extends StreamDirectory {
  private readonly byName = new Map<string, UserRecord>();
  private readonly byId = new Map<number, UserRecord>();
  /** Forgotten users; caught up together with the registry. */
  readonly erasures: ErasureDirectory;

  /** With a vault, usernames and password hashes are sealed in the log and opened here. */
  constructor(
    store: EventStore,
    private readonly vault?: Vault,
  ) {
    super(store, streams.users);
    this.erasures = new ErasureDirectory(store, vault, (userId) => this.forget(userId));
  }

  /**
   * Folds new registrations and new erasures (both reads at once). Either order ends the same: a
   * registration folded after its erasure is blank, an erasure folded after it forgets the user.
   */
  override async catchUp(): Promise<void> {
    await Promise.all([super.catchUp(), this.erasures.catchUp()]);
  }

  protected async fold(type: string, schemaVersion: number, data: unknown): Promise<void> {
    const e = parseEvent(type, schemaVersion, data);
    if (e.type !== 'UserRegistered') return;
    let record = e.data;
    if (this.vault && !this.erasures.find(e.data.userId)) {
      const username = await this.vault.open('username', e.data.username);
      const passwordHash = await this.vault.open('passwordHash', e.data.passwordHash);
      // A forgotten (shredded) user can no longer be found or log in.
      if (username === null || passwordHash === null) {
        this.byId.set(e.data.userId, { ...e.data, username: '', passwordHash: '' });
        return;
      }
      record = { ...e.data, username, passwordHash };
    }
    // Checked after the vault reads, with no await until the maps are set: an erasure folded
    // meanwhile is seen here, one folded later forgets the entry set now.
    if (this.erasures.find(e.data.userId)) {
      this.byId.set(e.data.userId, { ...e.data, username: '', passwordHash: '' });
      return;
    }
    this.byName.set(record.username.toLowerCase(), record);
    this.byId.set(record.userId, record);
  }

  /** Drops a user whose personal data was shredded: no longer found by name, so login fails as for an unknown user. */
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
