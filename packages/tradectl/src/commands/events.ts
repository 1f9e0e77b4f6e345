/** `tradectl events`: the log, filtered, in global order; `--follow` tails it live. */
import type { RecordedEvent } from '@tradecore/event-store';
import type { Connection } from '../connect.ts';
import { usage } from '../errors.ts';
import { matchesFilter, type EventFilter } from '../filter.ts';
import { formatEvent, formatHeader, type EventFormat } from '../format.ts';
import type { Output } from '../io.ts';
import { countEvents, scan } from '../log.ts';
import type { Progress } from '../progress.ts';

export interface EventsOptions {
  filter: EventFilter;
  format: EventFormat;
  follow: boolean;
  limit?: number;
  batchSize: number;
  progress?: Progress;
  signal?: AbortSignal;
}

/** Returns the number of events written. */
export async function eventsCommand(conn: Connection, out: Output, opts: EventsOptions): Promise<number> {
  const head = await conn.store.headPosition();
  const f = opts.filter;
  if (opts.follow && f.toPosition !== undefined) throw usage('--follow tails the log: it cannot be combined with --to');
  if (!opts.follow && f.fromPosition !== undefined && f.fromPosition > head) {
    throw usage(`bad range: --from ${f.fromPosition} is beyond the head of the log (${head})`);
  }
  const scanTo = f.toPosition !== undefined && f.toPosition < head ? f.toPosition : head;
  const width = out.columns;
  out.write(formatHeader(opts.format));
  let written = 0;
  const limit = opts.limit ?? Number.POSITIVE_INFINITY;
  if (opts.progress?.enabled) opts.progress.setTotal(await countEvents(conn, f.fromPosition, scanTo));
  let lastSeen = f.fromPosition !== undefined && f.fromPosition > 0n ? f.fromPosition - 1n : 0n;
  if (written < limit && (f.fromPosition === undefined || f.fromPosition <= scanTo)) {
    for await (const e of scan(conn, { ...f, toPosition: scanTo }, { batchSize: opts.batchSize, onPage: (_p, n) => opts.progress?.update(n) })) {
      out.write(formatEvent(opts.format, e, width));
      lastSeen = e.globalPosition;
      if (++written >= limit) break;
      await out.maybeFlush();
    }
  }
  opts.progress?.finish();
  await out.flush();
  if (!opts.follow || written >= limit || opts.signal?.aborted) return written;

  // Live tail: everything after what was scanned (the head when the scan began).
  const from = scanTo > lastSeen ? scanTo : lastSeen;
  await new Promise<void>((resolve, reject) => {
    let stopping = false;
    const sub = conn.store.subscribeToAll(
      async (events: readonly RecordedEvent[]) => {
        if (stopping) return;
        for (const e of events) {
          if (!matchesFilter({ ...f, toPosition: undefined }, e)) continue;
          out.write(formatEvent(opts.format, e, width));
          if (++written >= limit) {
            stopping = true;
            break;
          }
        }
        await out.flush();
        if (stopping) void sub.close();
      },
      { fromPosition: from, batchSize: opts.batchSize },
    );
    const onAbort = (): void => {
      stopping = true;
      void sub.close();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    sub.done.then(
      () => {
        opts.signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      (err: unknown) => {
        opts.signal?.removeEventListener('abort', onAbort);
        if (stopping) resolve();
        else reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
  await out.flush();
  return written;
}
