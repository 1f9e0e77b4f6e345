/**
 * Exactly-once effects for a single-writer stream (docs/architecture.md):
 * - load the stream's state from a cache and catch up from the cached revision;
 * - for each input in order: skip it when the state's last input position is at or past it,
 *   otherwise decide, evolve the working state with the decision;
 * - append every decision of the group at once with the expected revision that was loaded,
 *   event ids derived from each source event id (UUIDv5) and metadata {correlationId, userId
 *   from the source, causationId = source eventId, inputPosition, inputAt, occurredAt};
 * - on WrongExpectedRevisionError (a concurrent writer, e.g. a deposit, or a second owner) or an
 *   idempotency conflict: drop the cache, reload and re-decide; already applied inputs are skipped.
 *
 * Faults: a decision that throws (schema failure, decider error) is retried with backoff a bounded
 * number of times, then dead-lettered and skipped; a store error is retried with backoff a bounded
 * number of times, then the handler stops (HandlerStoppedError): ordered handlers never skip an
 * input because the store was unavailable. A handler may answer an input dead-lettered because the
 * decider threw (`AnswerFn`: the execution handler rejects an accepted order it could not decide, so
 * that its reservation is released): the answer is appended as that input's decision, with the
 * same derived event ids and input position, so a redelivery skips it like any applied input.
 */
import { EventSchemaError, type TradecoreEvent } from '@tradecore/core-domain';
import {
  IdempotencyConflictError,
  WrongExpectedRevisionError,
  type EventStore,
  type NewEvent,
  type RecordedEvent,
} from '@tradecore/event-store';
import { backoffDelay, sleep } from './backoff.ts';
import { correlationIdOf, deadLetter, type DeadLetter, type DeadLetterSink } from './dead-letter.ts';
import { decisionMetadata, derivedEventId, type Clock } from './ids.ts';
import type { InboxInput } from './inbox.ts';
import type { SnapshotStore } from './snapshots.ts';
import type { EngineMetrics, Logger } from './observability.ts';

export interface DecisionMetaIn {
  inputPosition?: bigint | number | string | null;
  inputAt?: string | null;
}

/** One stream's decider, as the runner needs it. */
export interface StreamModel<S> {
  /** The state of a stream with no events (the stream name tells which account or market). */
  initialState(stream: string): S;
  evolve(state: S, event: TradecoreEvent, meta: DecisionMetaIn): S;
  /** Highest input position the state has applied (null: none). */
  lastInputPosition(state: S): bigint | null;
  /** Turns a recorded event of the stream into a catalogue event (throws on schema failure). */
  parse(recorded: RecordedEvent): TradecoreEvent;
}

/** Decides one input against the working state; throws for a poison input. */
export type DecideFn<S> = (state: S, input: RecordedEvent) => TradecoreEvent[];

/**
 * The stream's answer to an input dead-lettered because its decision threw on every attempt
 * (reason 'decider'), on the working state without that decision; [] for none. Never called for
 * an input that could not be decoded or failed its schema: nothing in it can be trusted.
 */
export type AnswerFn<S> = (state: S, input: RecordedEvent) => TradecoreEvent[];

export class HandlerStoppedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HandlerStoppedError';
  }
}

export interface RunnerOptions {
  handler: string;
  store: EventStore;
  clock: Clock;
  deadLetters: DeadLetterSink;
  metrics: EngineMetrics;
  logger: Logger;
  /** Attempts for a decision that throws before it is dead-lettered. Default 3. */
  poisonAttempts?: number;
  /** Attempts for a store operation before the handler stops. Default 6. */
  storeAttempts?: number;
  /** Reload-and-redecide rounds on concurrency conflicts before the handler stops. Default 25. */
  conflictAttempts?: number;
  backoff?: { initialMs?: number; maxMs?: number };
  /** Cached stream states (LRU). Default 100_000. */
  cacheSize?: number;
  signal?: AbortSignal;
  /**
   * Trust a cached state that this runner appended or read itself, without a catch-up read: a
   * concurrent writer (a deposit, a zombie owner) makes the append fail on its expected revision,
   * and the runner then catches up and decides again. Default true; false reads the tail first.
   */
  optimistic?: boolean;
  /** The decider mutates the state it decides on (an order book): never reuse a state after a failed round. */
  mutableState?: boolean;
  /** Snapshots: a cold load starts from the latest snapshot and reads only the tail. */
  snapshots?: SnapshotPolicy<unknown>;
}

export interface SnapshotPolicy<S> {
  store: SnapshotStore;
  /** A serialisable copy of a state, taken right after a successful append. */
  take(state: S): unknown;
  /** The state from a stored snapshot (throws if it cannot: the stream is then read from the start). */
  restore(stream: string, snapshot: unknown): S;
  /** Take one every this many events. Default 1000. */
  every?: number;
}

interface Cached<S> {
  state: S;
  /** Revision of the last event folded; -1n for an empty stream. */
  revision: bigint;
  /** Revision of the latest snapshot saved or loaded (-1n: none). */
  snapshotRevision?: bigint;
  /** Another writer may have appended since: catch up before deciding. */
  stale?: boolean;
}

function isConflict(e: unknown): boolean {
  return e instanceof WrongExpectedRevisionError || e instanceof IdempotencyConflictError;
}

function poisonReason(e: unknown): 'schema' | 'decider' {
  return e instanceof EventSchemaError || (e as Error | null)?.name === 'ZodError' ? 'schema' : 'decider';
}

/** An input a decision runs on: the recorded event (its position is the input position). */
export interface StreamInput {
  input: InboxInput;
  event: RecordedEvent;
}

/** The lowest log position among a batch's inputs (it has at least one). */
export function oldestPosition(inputs: readonly StreamInput[]): bigint {
  let oldest = inputs[0]!.event.globalPosition;
  for (const i of inputs) if (i.event.globalPosition < oldest) oldest = i.event.globalPosition;
  return oldest;
}

export interface StoreRetryOptions {
  handler: string;
  metrics: EngineMetrics;
  logger: Logger;
  attempts?: number;
  backoff?: { initialMs?: number; maxMs?: number };
  signal?: AbortSignal;
  /** Extra fields for the retry log lines (the correlation ids of the inputs the operation is for). */
  logContext?: Record<string, unknown>;
}

/**
 * Runs a store operation with bounded retries and backoff; concurrency conflicts pass through.
 * When the attempts are used up the handler stops (HandlerStoppedError) instead of skipping.
 */
export async function retryStore<T>(what: string, fn: () => Promise<T>, o: StoreRetryOptions): Promise<T> {
  const attempts = o.attempts ?? 6;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (isConflict(e)) throw e;
      if (attempt >= attempts || o.signal?.aborted)
        throw new HandlerStoppedError(`${o.handler}: ${what} failed ${attempt} times; stopping rather than skipping`, { cause: e });
      o.metrics.retries.inc({ handler: o.handler, kind: 'store' });
      const delay = backoffDelay(attempt, { initialMs: 100, maxMs: 3_000, ...o.backoff });
      o.logger.warn({ ...o.logContext, err: e, attempt, delayMs: delay, what }, 'store operation failed; retrying');
      await sleep(delay, o.signal);
    }
  }
}

export class StreamRunner<S> {
  private readonly cache = new Map<string, Cached<S>>();
  private readonly o: Required<Omit<RunnerOptions, 'signal' | 'backoff' | 'snapshots' | 'optimistic' | 'mutableState'>> &
    Pick<RunnerOptions, 'signal' | 'backoff' | 'snapshots' | 'optimistic' | 'mutableState'>;

  constructor(
    private readonly model: StreamModel<S>,
    options: RunnerOptions,
  ) {
    this.o = {
      ...options,
      poisonAttempts: options.poisonAttempts ?? 3,
      storeAttempts: options.storeAttempts ?? 6,
      conflictAttempts: options.conflictAttempts ?? 25,
      cacheSize: options.cacheSize ?? 100_000,
    };
  }

  /** Forget every cached state (ownership lost). */
  clear(): void {
    this.cache.clear();
  }

  forget(stream: string): void {
    this.cache.delete(stream);
  }

  /** Current state of a stream (cache + catch-up), for handlers that need to look (e.g. rebuilds). */
  async state(stream: string): Promise<Cached<S>> {
    return this.withStore(`load ${stream}`, () => this.load(stream));
  }

  private async fromSnapshot(stream: string): Promise<Cached<S> | undefined> {
    const policy = this.o.snapshots as SnapshotPolicy<S> | undefined;
    if (!policy) return undefined;
    const stored = await policy.store.load(stream);
    if (!stored) return undefined;
    try {
      return { state: policy.restore(stream, stored.state), revision: stored.revision, snapshotRevision: stored.revision };
    } catch (e) {
      this.o.logger.warn({ stream, err: e }, 'snapshot unusable; reading the stream from its start');
      return undefined;
    }
  }

  private async load(stream: string): Promise<Cached<S>> {
    const hit = this.cache.get(stream);
    if (hit && !hit.stale && this.o.optimistic !== false) {
      this.remember(stream, hit);
      return hit;
    }
    const cached = hit ?? (await this.fromSnapshot(stream));
    let state = cached?.state ?? this.model.initialState(stream);
    let revision = cached?.revision ?? -1n;
    const snapshotRevision = cached?.snapshotRevision ?? -1n;
    try {
      const events = await this.o.store.readStream(stream, { fromRevision: revision + 1n });
      for (const r of events) {
        state = this.model.evolve(state, this.model.parse(r), r.metadata);
        revision = r.streamRevision;
      }
    } catch (e) {
      this.cache.delete(stream);
      throw e;
    }
    const entry = { state, revision, snapshotRevision };
    this.remember(stream, entry);
    return entry;
  }

  private remember(stream: string, entry: Cached<S>): void {
    this.cache.delete(stream);
    this.cache.set(stream, entry);
    if (this.cache.size > this.o.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
  }

  /** Seed the cache (e.g. from a snapshot) so the next load only reads the tail. */
  seed(stream: string, state: S, revision: bigint): void {
    this.remember(stream, { state, revision });
  }

  private withStore<T>(what: string, fn: () => Promise<T>, logContext?: Record<string, unknown>): Promise<T> {
    return retryStore(what, fn, { ...this.o, attempts: this.o.storeAttempts, logContext });
  }

  /**
   * Decides the inputs of one stream, in order, and appends the decisions. Returns the number of
   * events appended (0 when everything was already applied, ignored or dead-lettered).
   *
   * A decider may mutate the state it is given (an order book), so the working state of a round
   * that does not end in a successful append (conflict, poison input, store error) is dropped and
   * the next round reloads it from the store.
   */
  async run(stream: string, inputs: readonly StreamInput[], decide: DecideFn<S>, answer?: AnswerFn<S>): Promise<number> {
    /** Inputs dead-lettered in this run, by event id, with the reason. */
    const deadLettered = new Map<string, DeadLetter['reason']>();
    const failures = new Map<string, number>();
    let conflicts = 0;
    // Lines about several inputs name all their correlation ids; lines about one input name its own.
    const correlationIds = [...new Set(inputs.map((si) => correlationIdOf(si.event)))];
    const debug = this.o.logger.isLevelEnabled('debug');
    for (;;) {
      const loaded = await this.withStore(`load ${stream}`, () => this.load(stream), { stream, correlationIds });
      let working = loaded.state;
      const pending: NewEvent[] = [];
      let decided = 0;
      let skipped = 0;
      let ignored = 0;
      let poisoned: { si: StreamInput; error: Error } | undefined;
      for (const si of inputs) {
        const letter = deadLettered.get(si.event.eventId);
        // Only a decider failure is answered: an input that failed its schema cannot be trusted.
        const answering = letter === 'decider' ? answer : undefined;
        if (letter !== undefined && !answering) continue;
        const last = this.model.lastInputPosition(working);
        if (last !== null && si.event.globalPosition <= last) {
          skipped++;
          continue;
        }
        let result: TradecoreEvent[];
        if (answering) {
          // Dead-lettered in an earlier round of this run (and counted so): its answer is appended
          // in place of its decision. The dead letter is published first (an answer without its
          // dead letter would hide the defect from operators); a crash before this append
          // redelivers the input, which is dead-lettered and answered then (or decided, if the
          // defect is gone): one outcome in the stream either way.
          result = this.answer(stream, si, answering, working);
          if (result.length === 0) continue;
        } else {
          try {
            result = decide(working, si.event);
          } catch (e) {
            poisoned = { si, error: e instanceof Error ? e : new Error(String(e)) };
            break;
          }
          if (debug)
            this.o.logger.debug(
              { stream, eventId: si.event.eventId, type: si.event.type, correlationId: correlationIdOf(si.event), decision: result.map((ev) => ev.type) },
              'decided',
            );
          if (result.length === 0) {
            ignored++;
            continue;
          }
          decided++;
        }
        const metadata = decisionMetadata(si.event, this.o.clock);
        result.forEach((ev, i) => {
          pending.push({ eventId: derivedEventId(si.event.eventId, stream, i), type: ev.type, data: ev.data, metadata });
          working = this.model.evolve(working, ev, metadata);
        });
      }
      if (poisoned) {
        // The working state may be half-changed: forget it, retry or dead-letter, then redo the round.
        this.cache.delete(stream);
        const id = poisoned.si.event.eventId;
        const attempts = (failures.get(id) ?? 0) + 1;
        failures.set(id, attempts);
        if (attempts < this.o.poisonAttempts) {
          this.o.metrics.retries.inc({ handler: this.o.handler, kind: 'poison' });
          this.o.logger.warn({ stream, eventId: id, correlationId: correlationIdOf(poisoned.si.event), attempts, err: poisoned.error }, 'decision failed; retrying');
          await sleep(backoffDelay(attempts, { initialMs: 20, maxMs: 500 }), this.o.signal);
        } else {
          const reason = poisonReason(poisoned.error);
          deadLettered.set(id, reason);
          await deadLetter(this.o.deadLetters, { handler: this.o.handler, input: poisoned.si.input, reason, error: poisoned.error, attempts }, this.o.metrics, this.o.logger);
        }
        continue;
      }
      if (pending.length === 0) {
        this.count(decided, skipped, ignored);
        return 0;
      }
      try {
        const result = await this.withStore(
          `append ${stream}`,
          () =>
            this.o.store.appendToStream(stream, pending, {
              expectedRevision: loaded.revision < 0n ? 'no_stream' : loaded.revision,
            }),
          { stream, correlationIds },
        );
        const entry: Cached<S> = { state: working, revision: result.nextExpectedRevision, snapshotRevision: loaded.snapshotRevision ?? -1n };
        this.remember(stream, entry);
        this.maybeSnapshot(stream, entry);
        this.count(decided, skipped, ignored);
        return pending.length;
      } catch (e) {
        // An immutable state as loaded is still good: catch up from it. A mutated one is not.
        if (this.o.mutableState) this.cache.delete(stream);
        else this.remember(stream, { ...loaded, stale: true });
        if (!isConflict(e)) throw e;
        conflicts++;
        this.o.metrics.retries.inc({ handler: this.o.handler, kind: 'conflict' });
        if (conflicts >= this.o.conflictAttempts)
          throw new HandlerStoppedError(`${this.o.handler}: ${stream} kept conflicting (${conflicts} rounds)`, { cause: e });
        this.o.logger.debug({ stream, conflicts, correlationIds, err: e }, 'concurrent write: reloading and deciding again');
        if (conflicts > 2) await sleep(backoffDelay(conflicts - 2, { initialMs: 5, maxMs: 200 }), this.o.signal);
      }
    }
  }

  /**
   * The handler's answer to a dead-lettered input. An answer that throws is logged and not
   * appended: the input stays dead-lettered, as it would be without an answer.
   */
  private answer(stream: string, si: StreamInput, answer: AnswerFn<S>, working: S): TradecoreEvent[] {
    const context = { stream, eventId: si.event.eventId, type: si.event.type, correlationId: correlationIdOf(si.event) };
    let result: TradecoreEvent[];
    try {
      result = answer(working, si.event);
    } catch (e) {
      this.o.logger.error({ ...context, err: e }, 'could not answer a dead-lettered input');
      return [];
    }
    if (result.length > 0) this.o.logger.warn({ ...context, answer: result.map((ev) => ev.type) }, 'dead-lettered input answered');
    return result;
  }

  private maybeSnapshot(stream: string, entry: Cached<S>): void {
    const policy = this.o.snapshots as SnapshotPolicy<S> | undefined;
    if (!policy || entry.revision - (entry.snapshotRevision ?? -1n) < BigInt(policy.every ?? 1000)) return;
    let taken: unknown;
    try {
      taken = policy.take(entry.state);
    } catch (e) {
      this.o.logger.warn({ stream, err: e }, 'could not take a snapshot');
      return;
    }
    entry.snapshotRevision = entry.revision;
    const revision = entry.revision;
    // A snapshot is a cache: saving it never holds up or fails a decision.
    policy.store.save(stream, revision, taken).catch((e: unknown) => this.o.logger.warn({ stream, err: e }, 'saving a snapshot failed'));
  }

  private count(decided: number, skipped: number, ignored: number): void {
    const h = this.o.handler;
    if (decided) this.o.metrics.inputs.inc({ handler: h, outcome: 'decided' }, decided);
    if (skipped) this.o.metrics.inputs.inc({ handler: h, outcome: 'skipped' }, skipped);
    if (ignored) this.o.metrics.inputs.inc({ handler: h, outcome: 'ignored' }, ignored);
  }
}
