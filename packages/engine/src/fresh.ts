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

/**
 * FreshnessGate for keyed catch-ups (the markets a batch prices): `ensure(keys)` resolves once a
 * refresh that started after the call and covered those keys has completed. Callers that ask
 * while a refresh runs are served together by the next one, which covers the union of their keys,
 * so concurrent partitions share one round trip however many keys they name.
 */
export class KeyedFreshnessGate<K> {
  private waiting: { keys: readonly K[]; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private running = false;

  constructor(private readonly refresh: (keys: ReadonlySet<K>) => Promise<void>) {}

  ensure(keys: Iterable<K> = []): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ keys: [...keys], resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.waiting.length > 0) {
        // Everyone waiting now asked before this refresh starts: it serves exactly them.
        const served = this.waiting;
        this.waiting = [];
        const keys = new Set<K>();
        for (const w of served) for (const k of w.keys) keys.add(k);
        try {
          await this.refresh(keys);
          for (const w of served) w.resolve();
        } catch (e) {
          for (const w of served) w.reject(e);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
