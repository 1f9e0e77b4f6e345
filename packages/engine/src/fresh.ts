/**
 * Coalesces catch-up reads: a caller needs a refresh that *started after* it asked (everything
 * visible when its batch arrived must be included), covering the keys it names (the markets a
 * risk batch prices; none for reference data alone). `ensure(keys)` resolves once such a refresh
 * has completed. Callers that ask while a refresh runs are served together by the next one, over
 * the union of their keys, so concurrent partitions share one round trip however many they are.
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

/** A gate without keys (the execution handler's markets/control catch-up). */
export class FreshnessGate extends KeyedFreshnessGate<never> {
  constructor(refresh: () => Promise<void>) {
    super(() => refresh());
  }
}
