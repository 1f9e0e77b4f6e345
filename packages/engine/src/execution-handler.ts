/**
 * The execution handler: consumes the market inbox and is the single writer of `market-{id}`
 * (core-domain's market decider over the fast order book). Ownership of a market = ownership of
 * its inbox partition (routing.ts: partition = (marketId - 1) mod 8): when the assignment changes
 * the cached books are dropped and the owned markets are rebuilt from their streams (snapshot +
 * tail when a snapshot store is given). Appends carry the loaded expected revision, so even a
 * zombie owner (one that has not noticed it lost the partition) cannot write a second decision:
 * its append conflicts, it reloads, and finds the input already applied.
 *
 * Kill switches that address every market arrive on every partition keyed 'control'; each owner
 * applies them, in order, to the markets of that partition listed before the kill switch.
 *
 * An input the market decider throws on every attempt is dead-lettered (stream-runner.ts). When it
 * is risk's `OrderAccepted` or `OrderAmendAccepted`, risk holds money for it that only the market's
 * answer releases, so the market stream gets that answer in the input's place: the order rejected
 * (`OrderRejectedByEngine`, reason `engine_error`, its whole quantity), or the amend refused
 * (`OrderAmendRejectedByEngine`, `engine_error`). Cancels and control inputs hold no money: dead
 * letter only (core-domain's `engineErrorAnswer`); the orders of an account whose kill switch was
 * dead-lettered are cancelled by the market's next order or amend before it can match them
 * (core-domain's market decider, `sweepKillSwitched`).
 */
import {
  createMarketDecider,
  createOrderBook,
  type MarketCommand,
  marketSnapshot,
  restoreBook,
  restoreMarketState,
  streams,
  toMarketCommand,
  type MarketSnapshot,
  type MarketState,
} from '@tradecore/core-domain';
import { forEachLimit } from './concurrency.ts';
import { deadLetter } from './dead-letter.ts';
import { runnerOptions, type HandlerDeps } from './handler-deps.ts';
import { FreshnessGate } from './fresh.ts';
import { derivedId } from './ids.ts';
import type { InboxHandler, InboxInput } from './inbox.ts';
import { ReferenceData } from './reference-data.ts';
import { parseRecorded } from './risk-handler.ts';
import { BROADCAST_KEY, marketPartition } from './routing.ts';
import type { SnapshotStore } from './snapshots.ts';
import { StreamRunner, oldestPosition, retryStore, type StreamInput, type StreamModel } from './stream-runner.ts';

export interface ExecutionHandlerOptions {
  /** Book snapshots (engine_snapshots); without it an owner rebuilds each market from its whole stream. */
  snapshots?: SnapshotStore;
  /** Events between snapshots. Default 1000. */
  snapshotEvery?: number;
}

const MARKET_STREAM = /^market-([1-9]\d*)$/;

export function createExecutionHandler(deps: HandlerDeps, options: ExecutionHandlerOptions = {}): InboxHandler {
  const name = 'execution' as const;
  const logger = deps.logger.child({ handler: name });
  const decider = deps.marketDecider ?? createMarketDecider({ createBook: () => createOrderBook('fast') });
  const reference = new ReferenceData(deps.store);
  const retry = { handler: name, metrics: deps.metrics, logger, signal: deps.signal, attempts: deps.tuning?.storeAttempts, backoff: deps.tuning?.storeBackoff };
  // Partitions run concurrently: they share catch-up reads that started after their batch arrived.
  const referenceGate = new FreshnessGate(() => retryStore('refresh markets/control', () => reference.refresh(), retry));

  const model: StreamModel<MarketState> = {
    initialState(stream) {
      const id = Number(MARKET_STREAM.exec(stream)?.[1]);
      // The spec comes from the markets stream; a market not (yet) listed has none and every
      // decision on it throws (dead-lettered): the relay never publishes an input before its listing.
      return decider.initialState(reference.latest().markets.get(id) ?? null);
    },
    evolve: (state, event, meta) => decider.evolve(state, event, meta),
    lastInputPosition: (s) => (s.lastInputPosition < 0n ? null : s.lastInputPosition),
    parse: parseRecorded,
  };
  const runner = new StreamRunner<MarketState>(model, {
    ...runnerOptions(name, deps, logger),
    mutableState: true,
    snapshots: options.snapshots
      ? {
          store: options.snapshots,
          every: options.snapshotEvery ?? 1000,
          take: (s) => marketSnapshot(s as MarketState),
          restore: (_stream, snap) => restoreMarketState(snap as MarketSnapshot, (b) => restoreBook(b, 'fast')),
        }
      : undefined,
  });

  let epoch = 0;

  function commandOf(r: StreamInput['event']): MarketCommand | null {
    const event = parseRecorded(r);
    return toMarketCommand(
      {
        event,
        globalPosition: r.globalPosition,
        recordedAt: r.recordedAt,
        ids: (n) => Array.from({ length: n }, (_, k) => derivedId(r.eventId, 'trade', k)),
      },
      reference.at(r.globalPosition),
    );
  }

  function decide(state: MarketState, r: StreamInput['event']) {
    const command = commandOf(r);
    return command ? decider.decide(command, state) : [];
  }

  /** The market's answer to an input dead-lettered because `decide` threw on it every time. */
  function answerDeadLettered(state: MarketState, r: StreamInput['event']) {
    const command = commandOf(r);
    return command ? decider.engineErrorAnswer(command, state) : [];
  }

  /** Market ids an input addresses within its partition (a broadcast: every listed market there). */
  function marketsOf(input: InboxInput): number[] | null {
    if (input.key === BROADCAST_KEY) {
      const listed = reference.at(input.event!.globalPosition).markets;
      return [...listed.keys()].filter((m) => marketPartition(m) === input.partition).sort((a, b) => a - b);
    }
    const id = Number(input.key);
    return Number.isSafeInteger(id) && id > 0 ? [id] : null;
  }

  return {
    name,
    inbox: 'market-inbox',
    async handle(partition, inputs) {
      const myEpoch = epoch;
      const groups = new Map<number, StreamInput[]>();
      let refreshed = false;
      for (const input of inputs) {
        if (!input.event) {
          await deadLetter(deps.deadLetters, { handler: name, input, reason: 'decode', error: input.decodeError ?? new Error('undecodable'), attempts: 1 }, deps.metrics, logger);
          continue;
        }
        if (!refreshed) {
          await referenceGate.ensure();
          refreshed = true;
        }
        const markets = marketsOf(input);
        if (!markets) {
          await deadLetter(deps.deadLetters, { handler: name, input, reason: 'schema', error: new Error(`market-inbox key ${JSON.stringify(input.key)} is not a market id`), attempts: 1 }, deps.metrics, logger);
          continue;
        }
        for (const m of markets) {
          let g = groups.get(m);
          if (!g) groups.set(m, (g = []));
          g.push({ input, event: input.event });
        }
      }
      if (groups.size === 0) return;
      if (myEpoch !== epoch) return; // ownership changed while refreshing: the new owner decides
      logger.trace({ partition, markets: [...groups.keys()] }, 'deciding');
      await forEachLimit([...groups], deps.tuning?.streamConcurrency ?? 32, async ([marketId, items]) => {
        await runner.run(streams.market(marketId), items, decide, answerDeadLettered);
      });
      reference.forgetBefore(oldestPosition([...groups.values()].flat()));
    },
    async assigned(partitions) {
      epoch += 1;
      const mine = new Set(partitions);
      runner.clear();
      await referenceGate.ensure();
      const markets = [...reference.latest().markets.keys()].filter((m) => mine.has(marketPartition(m)));
      // Rebuild the owned books now (snapshot + tail), so the first input does not wait for it.
      await forEachLimit(markets, 4, async (m) => {
        await runner.state(streams.market(m));
      });
      logger.info({ partitions, markets: markets.length }, 'owned markets rebuilt');
    },
    revoked() {
      epoch += 1;
      runner.clear();
    },
  };
}
