/**
 * `COPY (...) TO STDOUT` on a node-postgres client, handing every CopyData payload to a callback.
 *
 * node-postgres has no COPY OUT of its own (pg-copy-streams is not a dependency here) but accepts
 * any "submittable" query object and forwards the backend's messages to it; this is one. Rows
 * come back in PostgreSQL's binary COPY format without per-row result objects or type parsing,
 * which is what lets verifyLog read a million events in seconds.
 *
 * The callback runs synchronously inside the socket's data handler, so while it works the socket
 * is not read and PostgreSQL is held back by TCP flow control: memory stays at one network read
 * however large the result, and a slow consumer never makes the server buffer more.
 */
import type pg from 'pg';

interface BackendMessage {
  chunk?: Buffer;
}

class CopyOut implements pg.Submittable {
  private failure: Error | undefined;
  callback: ((err: Error | undefined) => void) | undefined;

  constructor(
    private readonly text: string,
    private readonly onData: (chunk: Buffer) => void,
  ) {}

  submit(connection: pg.Connection): void {
    connection.query(this.text);
  }

  handleCopyData(msg: BackendMessage): void {
    if (this.failure || !msg.chunk) return;
    try {
      this.onData(msg.chunk);
    } catch (err) {
      // keep draining the rest of the COPY (the connection must reach ReadyForQuery to be reusable)
      this.failure = err instanceof Error ? err : new Error(String(err));
    }
  }

  handleCommandComplete(): void {}

  handleEmptyQuery(): void {}

  handleRowDescription(): void {
    this.failure ??= new Error('copyOut: the statement returned rows instead of COPY data');
  }

  handleDataRow(): void {}

  handlePortalSuspended(): void {}

  handleCopyInResponse(): void {
    this.failure ??= new Error('copyOut: the statement is a COPY FROM, not a COPY TO');
  }

  handleError(err: Error): void {
    // the client calls this for an ErrorResponse (ReadyForQuery follows and it moves on) and for
    // connection errors: either way the query is over
    this.finish(err);
  }

  handleReadyForQuery(): void {
    this.finish(this.failure);
  }

  private finish(err: Error | undefined): void {
    const cb = this.callback;
    this.callback = undefined;
    cb?.(err);
  }
}

/** Runs `sql` (a `COPY ... TO STDOUT` statement) and calls `onData` with each CopyData payload. */
export function copyOut(client: pg.ClientBase, sql: string, onData: (chunk: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const q = new CopyOut(sql, onData);
    q.callback = (err) => (err ? reject(err) : resolve());
    client.query(q);
  });
}
