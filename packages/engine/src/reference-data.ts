/**
 * The `markets` and `control` streams folded into core-domain's ControlState (listings, halts,
 * kill switches), as of any global position: a decision for an input at position q sees exactly
 * the listings, halts and kill switches recorded before q. So a kill switch or a halt takes effect
 * from the next event on, and a redelivered or replayed input is decided against the same view.
 *
 * Refreshed (caught up) once per batch: every event before an input of the batch is visible by
 * then, since the relay published that input only after everything before it was visible.
 */
import { evolveControl, initialControlState, parseEvent, recordedSchemaVersion, streams, type ControlState } from '@tradecore/core-domain';
import { readStreamsForwards, type EventStore, type RecordedEvent, type StreamRead } from '@tradecore/event-store';

const REFERENCE_STREAMS = [streams.markets, streams.control] as const;

export class ReferenceData {
  /** Events of both streams, in global order. */
  private events: RecordedEvent[] = [];
  /** states[i] = fold of events[0..i). */
  private states: ControlState[] = [initialControlState()];
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
    const fresh: RecordedEvent[] = [];
    const reads = REFERENCE_STREAMS.map((stream, i) => ({ stream, read: results[i] ?? [] }));
    for (const { stream, read } of reads) {
      const last = read[read.length - 1];
      if (last) this.revisions.set(stream, last.streamRevision);
      fresh.push(...read);
    }
    if (fresh.length === 0) return;
    fresh.sort((a, b) => (a.globalPosition < b.globalPosition ? -1 : a.globalPosition > b.globalPosition ? 1 : 0));
    const tail = this.events[this.events.length - 1];
    if (tail && fresh[0]!.globalPosition < tail.globalPosition) {
      // One stream's new events interleave with already folded ones: refold everything.
      this.events = [...this.events, ...fresh].sort((a, b) =>
        a.globalPosition < b.globalPosition ? -1 : a.globalPosition > b.globalPosition ? 1 : 0,
      );
      this.states = [initialControlState()];
      for (const e of this.events) this.states.push(evolveControl(this.states[this.states.length - 1]!, parseEvent(e.type, recordedSchemaVersion(e.metadata), e.data)));
      return;
    }
    for (const e of fresh) {
      this.events.push(e);
      this.states.push(evolveControl(this.states[this.states.length - 1]!, parseEvent(e.type, recordedSchemaVersion(e.metadata), e.data)));
    }
  }

  /** The view as of just before global position `position`. */
  at(position: bigint): ControlState {
    // Binary search: number of events with globalPosition < position.
    let lo = 0;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.events[mid]!.globalPosition < position) lo = mid + 1;
      else hi = mid;
    }
    return this.states[lo]!;
  }

  latest(): ControlState {
    return this.states[this.states.length - 1]!;
  }
}
