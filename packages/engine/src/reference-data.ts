/**
 * The `markets` and `control` streams folded into core-domain's ControlState (listings, halts,
 * kill switches), as of any global position: a decision for an input at position q sees exactly
 * the listings, halts and kill switches recorded before q. So a kill switch or a halt takes effect
 * from the next event on, and a redelivered or replayed input is decided against the same view.
 *
 * Refreshed (caught up) once per batch: every event before an input of the batch is visible by
 * then, since the relay published that input only after everything before it was visible.
 *
 * The handlers say after each batch which inputs are done with (`forgetBefore` its oldest input):
 * only the views from there on are kept, so memory does not grow with every listing and admin
 * action; an older input that still comes (another partition lagging, a redelivery) is answered by
 * folding the kept events again, the same view. Until the first `forgetBefore` (a handler's start,
 * which folds every listing ever made) only the newest view is kept, and runs of events are folded
 * at once (`foldControl`), so a start costs time and memory linear in the listings.
 */
import { evolveControl, foldControl, initialControlState, parseEvent, recordedSchemaVersion, streams, type ControlState, type TradecoreEvent } from '@tradecore/core-domain';
import { readStreamsForwards, type EventStore, type RecordedEvent, type StreamRead } from '@tradecore/event-store';

const REFERENCE_STREAMS = [streams.markets, streams.control] as const;

/** A reference event, parsed once, at its log position. */
interface ReferenceEvent {
  position: bigint;
  event: TradecoreEvent;
}

export class ReferenceData {
  /** Events of both streams, in global order. */
  private events: ReferenceEvent[] = [];
  /** states[i] = fold of events[0..base + i): the views from the floor on (see `forgetBefore`). */
  private states: ControlState[] = [initialControlState()];
  /** How many events lie before the first kept view. */
  private base = 0;
  /** The position `forgetBefore` was last given (kept across a refold); null: no input asked yet. */
  private floor: bigint | null = null;
  /** The last view refolded for an input below the floor. */
  private refolded: { index: number; state: ControlState } | null = null;
  private readonly revisions = new Map<string, bigint>();

  constructor(private readonly store: EventStore) {}

  /** What a refresh reads: both streams from their next revision (all of it). */
  reads(): StreamRead[] {
    return REFERENCE_STREAMS.map((stream) => ({ stream, fromRevision: (this.revisions.get(stream) ?? -1n) + 1n }));
  }

  /** A refresh on its own: both streams in one round trip (it sits on every batch's critical path). */
  async refresh(): Promise<void> {
    this.apply(await readStreamsForwards(this.store, this.reads()));
  }

  /** Folds what `reads()` returned (same order), wherever it was read together with other streams. */
  apply(results: readonly (readonly RecordedEvent[])[]): void {
    const fresh: ReferenceEvent[] = [];
    const reads = REFERENCE_STREAMS.map((stream, i) => ({ stream, read: results[i] ?? [] }));
    for (const { stream, read } of reads) {
      const last = read[read.length - 1];
      if (last) this.revisions.set(stream, last.streamRevision);
      for (const e of read) fresh.push({ position: e.globalPosition, event: parseEvent(e.type, recordedSchemaVersion(e.metadata), e.data) });
    }
    if (fresh.length === 0) return;
    fresh.sort(byPosition);
    const tail = this.events[this.events.length - 1];
    if (tail && fresh[0]!.position < tail.position) {
      // One stream's new events interleave with already folded ones: fold everything again.
      this.events = [...this.events, ...fresh].sort(byPosition);
      this.keepViewsFrom(this.floor === null ? this.events.length : this.countBefore(this.floor));
      return;
    }
    this.events.push(...fresh);
    if (this.floor === null) {
      // No input has asked yet: the newest view is all that is needed.
      this.states = [foldControl(this.latest(), fresh.map((e) => e.event))];
      this.base = this.events.length;
      return;
    }
    for (const e of fresh) this.states.push(evolveControl(this.states[this.states.length - 1]!, e.event));
  }

  /** The view as of just before global position `position`. */
  at(position: bigint): ControlState {
    const index = this.countBefore(position);
    if (index >= this.base) return this.states[index - this.base]!;
    // An input older than the floor (a lagging partition, a redelivery): fold the events before it
    // again. Rare: only an input before the newest forgotten listing, halt or kill switch gets here.
    if (this.refolded?.index !== index) this.refolded = { index, state: this.foldFirst(index) };
    return this.refolded.state;
  }

  latest(): ControlState {
    return this.states[this.states.length - 1]!;
  }

  /**
   * A hint that inputs before `position` are done with: the views only they could ask for are
   * dropped (each listing copies the markets map, so keeping every view costs memory quadratic in
   * the listings). A later `at` below it still answers, by folding again (`at`); the events are kept.
   */
  forgetBefore(position: bigint): void {
    if (this.floor === null || position > this.floor) this.floor = position;
    const index = this.countBefore(this.floor);
    // Below the kept views only on the first call: until then only the newest view was kept.
    if (index < this.base) this.keepViewsFrom(index);
    else if (index > this.base) {
      this.states = this.states.slice(index - this.base);
      this.base = index;
    }
  }

  /** How many views are held (for tests and diagnostics). */
  get keptViews(): number {
    return this.states.length;
  }

  /** The views from events[index] on, everything before it folded at once. */
  private keepViewsFrom(index: number): void {
    this.refolded = null;
    this.states = [this.foldFirst(index)];
    this.base = index;
    for (let i = index; i < this.events.length; i++) this.states.push(evolveControl(this.states[this.states.length - 1]!, this.events[i]!.event));
  }

  /** The fold of the first `count` events. */
  private foldFirst(count: number): ControlState {
    return foldControl(initialControlState(), this.events.slice(0, count).map((e) => e.event));
  }

  /** Number of events with position < position (binary search). */
  private countBefore(position: bigint): number {
    let lo = 0;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.events[mid]!.position < position) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function byPosition(a: ReferenceEvent, b: ReferenceEvent): number {
  return a.position < b.position ? -1 : a.position > b.position ? 1 : 0;
}
