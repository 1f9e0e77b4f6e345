/**
 * The read side's view of the projection: a dedicated connection LISTENing on
 * `tradecore_readmodel`. It knows the checkpoint the read models have reached, wakes
 * read-your-writes waiters (`X-Min-Position`), and fans notifications out to the cache and SSE.
 */
import type pg from 'pg';
import { CHECKPOINT_NAME, NOTIFY_CHANNEL, ident, type ReadModelNotification } from '@tradecore/projections';

export interface PositionWaiter {
  /** Highest checkpoint seen (notification or read). */
  current(): bigint;
  /** Resolves once the checkpoint is ≥ `min` or after `timeoutMs`, with the checkpoint then. */
  waitFor(min: bigint, timeoutMs: number): Promise<bigint>;
  /** Called for each notification of this schema, in order. Returns an unsubscribe function. */
  subscribe(listener: (n: ReadModelNotification) => void): () => void;
  /** Resolves once listening (and the initial checkpoint is known). */
  ready(): Promise<void>;
  /** True while the LISTEN connection is up. */
  connected(): boolean;
  close(): Promise<void>;
}

export interface PositionWaiterOptions {
  pool: pg.Pool;
  schema?: string;
  channel?: string;
  /** Re-read the checkpoint this often even without notifications (default 2000 ms). */
  pollMs?: number;
}

export function createPositionWaiter(options: PositionWaiterOptions): PositionWaiter {
  const schema = options.schema ?? 'readmodel';
  const channel = options.channel ?? NOTIFY_CHANNEL;
  const listeners = new Set<(n: ReadModelNotification) => void>();
  const waiters = new Set<{ min: bigint; resolve: (p: bigint) => void }>();
  let position = 0n;
  let client: pg.PoolClient | undefined;
  let closed = false;
  let isConnected = false;
  let poll: NodeJS.Timeout | undefined;
  let releaseHeld: () => void = () => undefined;

  const advance = (p: bigint) => {
    if (p <= position) return;
    position = p;
    for (const w of [...waiters]) {
      if (position >= w.min) {
        waiters.delete(w);
        w.resolve(position);
      }
    }
  };

  const readCheckpoint = async (): Promise<bigint> => {
    try {
      const r = await options.pool.query<{ position: string }>(`select position::text as position from ${ident(schema)}.projection_checkpoint where name = $1`, [CHECKPOINT_NAME]);
      const p = BigInt(r.rows[0]?.position ?? '0');
      advance(p);
    } catch {
      // schema not migrated yet, or the database is away: keep what we know
    }
    return position;
  };

  const onNotification = (msg: pg.Notification) => {
    if (msg.channel !== channel || !msg.payload) return;
    let n: ReadModelNotification;
    try {
      n = JSON.parse(msg.payload) as ReadModelNotification;
    } catch {
      return;
    }
    if (n.schema !== schema || typeof n.position !== 'string' || !/^\d+$/.test(n.position)) return;
    advance(BigInt(n.position));
    for (const l of listeners) {
      try {
        l(n);
      } catch {
        // a listener's failure must not stop the others
      }
    }
  };

  const connect = async (): Promise<void> => {
    while (!closed) {
      // Gives this checkout back to the pool once (destroyed when it failed us).
      let giveBack: ((destroy: boolean) => void) | undefined;
      try {
        const c = await options.pool.connect();
        let held = true;
        const back = (destroy: boolean): void => {
          if (!held) return;
          held = false;
          c.release(destroy);
        };
        giveBack = back;
        releaseHeld = () => back(false);
        c.on('notification', onNotification);
        c.on('error', () => {
          isConnected = false;
          // Only an established listener reconnects from here; while LISTEN is still being set up,
          // the loop below retries (both would open two listeners).
          const established = client === c;
          if (established) client = undefined;
          // After close() released it, an error (the server going away) is not ours to release again.
          if (!held) return;
          back(true);
          if (!closed && established) setTimeout(() => void connect(), 500);
        });
        await c.query(`listen ${ident(channel)}`);
        client = c;
        isConnected = true;
        await readCheckpoint();
        // anything missed while disconnected: tell listeners to treat everything as changed
        const resync: ReadModelNotification = { schema, position: position.toString(), markets: [], users: [], overflow: true };
        for (const l of listeners) {
          try {
            l(resync);
          } catch {
            // a listener's failure must not stop the others, nor cost this connection
          }
        }
        return;
      } catch {
        // A LISTEN that failed leaves the connection unusable to us: destroyed, not leaked (a
        // leaked checkout pins a pool slot and hangs pool.end()).
        giveBack?.(true);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };

  const started = connect().then(() => {
    poll = setInterval(() => void readCheckpoint(), options.pollMs ?? 2_000);
    poll.unref();
  });

  return {
    current: () => position,
    async waitFor(min, timeoutMs) {
      if (position >= min) return position;
      await readCheckpoint();
      if (position >= min) return position;
      return new Promise<bigint>((resolve) => {
        const w = { min, resolve };
        waiters.add(w);
        setTimeout(() => {
          if (!waiters.delete(w)) return;
          void readCheckpoint().then(resolve);
        }, timeoutMs).unref();
      });
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    ready: () => started,
    connected: () => isConnected,
    async close() {
      closed = true;
      if (poll) clearInterval(poll);
      for (const w of waiters) w.resolve(position);
      waiters.clear();
      if (client) {
        const c = client;
        client = undefined;
        isConnected = false;
        await c.query(`unlisten ${ident(channel)}`).catch(() => undefined);
        releaseHeld();
      }
    },
  };
}
