import type { FastifyRequest } from 'fastify';
import type { Clock, IdGenerator, TokenService } from '@tradecore/http-kit';
import type { EventMetadata, EventStore, NewEvent } from '@tradecore/event-store';
import { WrongExpectedRevisionError, type AppendResult, type ExpectedRevision } from '@tradecore/event-store';
import type { TradecoreEvent } from '@tradecore/core-domain';
import type { MarketDirectory, UserDirectory } from './directories.ts';
import type { PasswordHasher } from './passwords.ts';
import type { Vault } from '@tradecore/vault';

/** Status of an order as the read side last saw it; used to answer 409 for final orders early. */
export type OrderStatusLookup = (orderId: string) => Promise<string | null>;

export interface CommandDeps {
  store: EventStore;
  tokens: TokenService;
  clock: Clock;
  ids: IdGenerator;
  passwords: PasswordHasher;
  users: UserDirectory;
  markets: MarketDirectory;
  orderStatus?: OrderStatusLookup;
  /** Seals personal data before it is appended; the same vault must be given to `UserDirectory`. */
  vault?: Vault;
  /** Login attempts per minute per address. */
  loginRateLimitPerMinute?: number;
}

export const FINAL_STATUSES = new Set(['filled', 'cancelled', 'rejected', 'expired']);

export function metadataFor(deps: CommandDeps, request: FastifyRequest, userId: number | null): EventMetadata {
  return {
    correlationId: request.id,
    causationId: null,
    userId,
    occurredAt: deps.clock.now().toISOString(),
    schemaVersion: 1,
  };
}

export function newEvent(eventId: string, event: TradecoreEvent, metadata: EventMetadata): NewEvent {
  return { eventId, type: event.type, data: event.data, metadata: { ...metadata, schemaVersion: event.schemaVersion } };
}

const MAX_ATTEMPTS = 5;

/**
 * Optimistic concurrency with bounded retries: `attempt` re-reads what it needs and decides again
 * each time another writer got there first.
 */
export async function appendWithRetry(
  store: EventStore,
  attempt: () => Promise<{ stream: string; events: NewEvent[]; expectedRevision: ExpectedRevision }>,
  maxAttempts = MAX_ATTEMPTS,
): Promise<AppendResult> {
  for (let i = 1; ; i++) {
    const { stream, events, expectedRevision } = await attempt();
    try {
      return await store.appendToStream(stream, events, { expectedRevision });
    } catch (err) {
      if (!(err instanceof WrongExpectedRevisionError) || i >= maxAttempts) throw err;
    }
  }
}

/** Answers 202 with the log position in the body and in `X-Event-Position`. */
export function positionOf(result: AppendResult): number {
  return Number(result.position);
}
