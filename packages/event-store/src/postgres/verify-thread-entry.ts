/**
 * Entry of a verifyLog worker thread (verify-threads.ts starts it): reads one part of the position
 * walk on its own connection, in the snapshot the walk's transaction exported, and posts the
 * part's outcome. Everything it checks is PositionScanner's; only the thread is different.
 */
import { parentPort, type MessagePort } from 'node:worker_threads';
import pg from 'pg';
import { scanPart } from './verify-position.ts';
import type { FromThread, ToThread } from './verify-threads.ts';

if (!parentPort) throw new Error('verify-thread-entry.ts runs in a worker thread');
const port: MessagePort = parentPort;

let stopped = false;

async function scan(msg: Extract<ToThread, { type: 'job' }>): Promise<void> {
  const client = new pg.Client(msg.config);
  try {
    await client.connect();
    await client.query('begin isolation level repeatable read read only');
    await client.query(`set transaction snapshot '${msg.snapshot.replace(/'/g, "''")}'`);
    await client.query('set local jit = off');
    // progress is posted every progressEvery events (and at once when the part finds something)
    let unreported = 0;
    const part = await scanPart(
      client,
      msg.job,
      () => stopped,
      (events, anomaly) => {
        unreported += events;
        if (unreported >= msg.progressEvery || anomaly) {
          port.postMessage({ type: 'progress', events: unreported, anomaly } satisfies FromThread);
          unreported = 0;
        }
      },
    );
    await client.query('rollback');
    if (unreported > 0) port.postMessage({ type: 'progress', events: unreported, anomaly: part.anomaly !== undefined } satisfies FromThread);
    const data = part.toData();
    port.postMessage({ type: 'done', result: data } satisfies FromThread, [
      data.streams.keyBytes.buffer,
      data.streams.keyStart.buffer,
      data.streams.keyLength.buffer,
      data.streams.next.buffer,
      data.streams.last.buffer,
      data.streams.hashes.buffer,
      data.streams.index.buffer,
    ] as ArrayBuffer[]);
  } finally {
    await client.end().catch(() => undefined);
  }
}

port.on('message', (msg: ToThread) => {
  if (msg.type === 'stop') {
    stopped = true;
    return;
  }
  scan(msg).then(
    () => port.close(),
    (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      port.postMessage({ type: 'error', message: e.message, stack: e.stack } satisfies FromThread);
      port.close();
    },
  );
});
port.postMessage({ type: 'ready' } satisfies FromThread);
