/**
 * The risk handler: consumes the account inbox and is the single writer of decisions on
 * `account-{userId}` (core-domain's account decider). Per batch it catches up the reference view
 * (markets + control streams) and the last prices it needs, then decides the inputs of each
 * account in order (accounts concurrently), appending each account's decisions with the expected
 * revision it loaded (StreamRunner: exactly-once effects, poison and store-failure handling).
 *
 * An input the account decider throws on every attempt is dead-lettered (stream-runner.ts). When it
 * is a trader's request (`OrderPlaced`, `OrderAmendRequested`, `OrderCancelRequested`), nothing else
 * would ever answer it: the order stayed pending and the trader never learned its fate. So the
 * account stream gets the ordinary refusal with reason `engine_error` in the input's place, as
 * that input's decision (core-domain's `accountEngineErrorAnswer`; it reserves nothing). The market's
 * facts (trades, closes, amends applied or refused) get no answer: they stay dead-lettered for
 * operators, who re-apply one with `tradectl redrive <eventId>` once the defect is fixed. That command
 * decides with the same code as this handler: core-domain's routing (`toAccountCommand`, through
 * market-facts.ts) and the decisions' ids and metadata (ids.ts), shared as `@tradecore/engine/decisions`.
 */
import {
  DEFAULT_ACCOUNT_LIMITS,
  accountDecider,
  fastParseEvent,
  parseEvent,
  recordedSchemaVersion,
  streams,
  toAccountCommand,
  type AccountCommand,
  type AccountState,
  type TradecoreEvent,
} from '@tradecore/core-domain';
import { readStreamsForwards, type RecordedEvent } from '@tradecore/event-store';
import { forEachLimit, groupBy } from './concurrency.ts';
import { deadLetter } from './dead-letter.ts';
import { runnerOptions, type HandlerDeps } from './handler-deps.ts';
import type { InboxHandler, InboxInput } from './inbox.ts';
import { KeyedFreshnessGate } from './fresh.ts';
import { LastPrices } from './last-prices.ts';
import { routedInput } from './market-facts.ts';
import { ReferenceData } from './reference-data.ts';
import { isAccountInboxType } from './routing.ts';
import { StreamRunner, oldestPosition, retryStore, type StreamInput, type StreamModel } from './stream-runner.ts';

/**
 * A recorded event (an input, or an event of the stream being loaded) as a catalogue event; throws
 * EventSchemaError (poison: dead-lettered by the StreamRunner) when it does not match its schema.
 *
 * core-domain's fastParseEvent answers first, only when it is sure zod would accept the data and
 * return an equal copy (property-tested in core-domain); otherwise zod (`parseEvent`) decides, and
 * its verdict and error message stand. The fast path does not copy: the event's `data` is the
 * recorded object itself (the input decoded from Kafka, or the row the store read). Sharing it is
 * safe because nothing downstream writes to event data: the account and market deciders, the
 * StreamRunner and the handlers only read it, building new objects for commands, states and
 * decided events (checked by grep, and core-domain's write-side pipeline test runs both deciders
 * on deep-frozen events), and a recorded event is not written to after it is decoded or read.
 */
export function parseRecorded(r: RecordedEvent): TradecoreEvent {
  const version = recordedSchemaVersion(r.metadata);
  return fastParseEvent(r.type, version, r.data) ?? parseEvent(r.type, version, r.data);
}

export const accountModel: StreamModel<AccountState> = {
  initialState: () => accountDecider.initialState(),
  evolve: (state, event, meta) => accountDecider.evolve(state, event, meta),
  lastInputPosition: (s) => (s.lastInputPosition < 0n ? null : s.lastInputPosition),
  parse: parseRecorded,
};

const PRICED = new Set(['OrderPlaced', 'OrderAmendRequested']);

class PoisonInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoisonInputError';
  }
}

export function createRiskHandler(deps: HandlerDeps): InboxHandler {
  const name = 'risk' as const;
  const logger = deps.logger.child({ handler: name });
  const decider = deps.accountDecider ?? accountDecider;
  const limits = deps.tuning?.limits ?? DEFAULT_ACCOUNT_LIMITS;
  const runner = new StreamRunner<AccountState>(accountModel, runnerOptions(name, deps, logger));
  const reference = new ReferenceData(deps.store);
  const prices = new LastPrices(deps.store);
  // Partitions run concurrently: they share catch-up reads that started after their batch arrived.
  // One round trip per refresh: the markets and control streams and the priced markets' streams
  // (those its callers name) in one readStreams; a full market page is read on by itself.
  const catchUp = new KeyedFreshnessGate<number>((marketIds) =>
    retryStore(
      'refresh markets/control and last prices',
      async () => {
        const referenceReads = reference.reads();
        const priceReads = prices.reads(marketIds);
        const results = await readStreamsForwards(deps.store, [...referenceReads, ...priceReads.map((p) => p.read)]);
        reference.apply(results.slice(0, referenceReads.length));
        for (const [i, p] of priceReads.entries()) {
          if (!prices.apply(p.marketId, results[referenceReads.length + i] ?? [])) await prices.refresh(p.marketId);
        }
      },
      retry,
    ),
  );
  const retry = { handler: name, metrics: deps.metrics, logger, signal: deps.signal, attempts: deps.tuning?.storeAttempts, backoff: deps.tuning?.storeBackoff };

  /**
   * Builds the account command for an input (core-domain's routing); null: nothing to decide (a
   * deposit: command-api wrote it to the account stream, the state already folds it). An input of
   * another type, or keyed by a user it does not concern, is poison.
   */
  function commandFor(userId: number, r: RecordedEvent, lastPrice: string | null): AccountCommand | null {
    const ev = parseRecorded(r);
    if (ev.type === 'FundsDeposited') return null;
    if (!isAccountInboxType(ev.type)) throw new PoisonInputError(`${ev.type} is not an account-inbox input`);
    const command = toAccountCommand(routedInput(r, ev), { userId, control: reference.at(r.globalPosition), lastPrice: () => lastPrice, limits });
    if (command) return command;
    if (ev.type === 'TradeExecuted') throw new PoisonInputError(`trade ${ev.data.tradeId} arrived keyed by user ${userId}, not a party`);
    const owner = (ev.data as { userId?: unknown }).userId;
    throw new PoisonInputError(`input ${r.eventId} for user ${String(owner)} arrived keyed by user ${userId}`);
  }

  return {
    name,
    inbox: 'account-inbox',
    async handle(_partition: number, inputs: readonly InboxInput[]): Promise<void> {
      const valid: StreamInput[] = [];
      for (const input of inputs) {
        if (input.event) valid.push({ input, event: input.event });
        else
          await deadLetter(
            deps.deadLetters,
            { handler: name, input, reason: 'decode', error: input.decodeError ?? new Error('undecodable'), attempts: 1 },
            deps.metrics,
            logger,
          );
      }
      if (valid.length === 0) return;
      // Last prices as of each priced input, read before deciding (decisions are synchronous).
      const lastPrice = new Map<string, string | null>();
      const pricedMarkets = new Set<number>();
      for (const v of valid) {
        const marketId = (v.event.data as { marketId?: unknown } | null)?.marketId;
        if (PRICED.has(v.event.type) && typeof marketId === 'number' && Number.isSafeInteger(marketId) && marketId > 0) pricedMarkets.add(marketId);
      }
      // One catch-up for the batch: reference data and these markets' last prices, in one read.
      await catchUp.ensure(pricedMarkets);
      if (pricedMarkets.size > 0) {
        for (const v of valid) {
          const marketId = (v.event.data as { marketId?: unknown } | null)?.marketId;
          if (PRICED.has(v.event.type) && typeof marketId === 'number' && pricedMarkets.has(marketId))
            lastPrice.set(v.event.eventId, await retryStore('last price', () => prices.before(marketId, v.event.globalPosition), retry));
        }
      }
      const groups = [...groupBy(valid, (v) => v.input.key)];
      await forEachLimit(groups, deps.tuning?.streamConcurrency ?? 32, async ([key, items]) => {
        const userId = Number(key);
        if (!Number.isSafeInteger(userId) || userId <= 0) {
          for (const it of items)
            await deadLetter(deps.deadLetters, { handler: name, input: it.input, reason: 'schema', error: new Error(`account-inbox key ${JSON.stringify(key)} is not a user id`), attempts: 1 }, deps.metrics, logger);
          return;
        }
        const command = (r: RecordedEvent) => commandFor(userId, r, lastPrice.get(r.eventId) ?? null);
        await runner.run(
          streams.account(userId),
          items,
          (state, r) => {
            const c = command(r);
            return c ? decider.decide(c, state) : [];
          },
          // A dead-lettered request's refusal (engine_error). An input that is not this account's
          // (PoisonInputError) throws here too, and the runner appends nothing for it.
          (state, r) => {
            const c = command(r);
            return c ? decider.engineErrorAnswer(c, state) : [];
          },
        );
      });
      reference.forgetBefore(oldestPosition(valid));
    },
    async assigned() {
      // Accounts are loaded lazily (cache + catch-up per input group): nothing to rebuild eagerly.
    },
    revoked() {
      runner.clear();
      prices.clear();
    },
  };
}
