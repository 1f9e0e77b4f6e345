/**
 * Coalesces catch-up reads: a caller needs a refresh that *started after* it asked (everything
 * visible when its batch arrived must be included); concurrent callers (partitions processed in
 * parallel) share one such refresh instead of each issuing its own queries.
 */
export class FreshnessGate {
  private ticket = 0;
  private inflight: { startedAt: number; done: Promise<void> } | undefined;
  private completedStart = -1;

  constructor(private readonly refresh: () => Promise<void>) {}

  /** Resolves once a refresh that started after this call has completed. */
  async ensure(): Promise<void> {
    const asked = ++this.ticket;
    for (;;) {
      if (this.completedStart >= asked) return;
      const running = this.inflight;
      if (running && running.startedAt >= asked) {
        await running.done;
        continue;
      }
      if (running) {
        await running.done.catch(() => undefined);
        continue;
      }
      const startedAt = ++this.ticket;
      const done = this.refresh().then(
        () => {
          this.completedStart = Math.max(this.completedStart, startedAt);
        },
        (e: unknown) => {
          throw e;
        },
      );
      const entry = { startedAt, done };
      this.inflight = entry;
      try {
        await done;
      } finally {
        if (this.inflight === entry) this.inflight = undefined;
      }
      return;
    }
  }
}
