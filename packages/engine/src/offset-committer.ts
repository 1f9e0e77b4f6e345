/**
 * One consumer's offsets, committed every `intervalMs` and when it stops, not after each batch:
 * kafkajs fetches again only once every batch of a fetch, commit included, is done, so a commit
 * per batch put a broker round trip on every hop. Used where a redelivery is skipped anyway (the
 * handlers' idempotence, the projector's checkpoint), so an offset not committed yet costs a
 * redelivery after a crash, never a lost or doubled effect.
 */
import type { Consumer } from 'kafkajs';

export class OffsetCommitter {
  /** Per partition: the next offset to read, for batches finished since the last commit. */
  private readonly pending = new Map<number, string>();
  private inFlight = 0;
  private readonly idle: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;

  /** `intervalMs` 0: commit right after each batch. `onError`: a commit that failed (it is not retried). */
  constructor(
    private readonly consumer: Consumer,
    private readonly topic: string,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Starts the interval commits (once the consumer runs). */
  start(): void {
    if (this.intervalMs > 0 && !this.timer) {
      this.timer = setInterval(() => void this.commit(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** Runs one batch's work, counted as in flight until it returns or throws (stop() waits for it). */
  async track<T>(work: () => Promise<T>): Promise<T> {
    this.inFlight += 1;
    try {
      return await work();
    } finally {
      this.inFlight -= 1;
      if (this.inFlight === 0) for (const wake of this.idle.splice(0)) wake();
    }
  }

  /** A batch ending at `lastOffset` of `partition` is done: its offsets are due. */
  async finished(partition: number, lastOffset: string): Promise<void> {
    this.pending.set(partition, (BigInt(lastOffset) + 1n).toString());
    if (this.intervalMs === 0) await this.commit();
  }

  /** Drops what is due without committing it (partitions this member may lose in a rebalance). */
  forget(): void {
    this.pending.clear();
  }

  async commit(): Promise<void> {
    if (this.pending.size === 0) return;
    const offsets = [...this.pending].map(([partition, offset]) => ({ topic: this.topic, partition, offset }));
    this.pending.clear();
    try {
      await this.consumer.commitOffsets(offsets);
    } catch (err) {
      // Not committed: these messages are redelivered after a restart or rebalance and skipped there.
      this.onError(err);
    }
  }

  /**
   * For a graceful stop, after the caller paused the consumer: no more interval commits, waits
   * for the batches in flight, commits what they finished (disconnect() commits nothing with
   * autoCommit off).
   */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
    await this.commit();
  }
}
