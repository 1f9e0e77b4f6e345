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

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/**
 * Splits binary COPY data into rows of `fields` fields: for each complete row, `row(buf, f)` with
 * f[2k], f[2k+1] the start and end of field k in buf (end -1: NULL).
 */
export class CopyRows {
  ended = false;
  private headerDone = false;
  private carry: Buffer | undefined;
  readonly f: Int32Array;

  constructor(
    private readonly fields: number,
    private readonly row: (buf: Buffer, f: Int32Array) => void,
  ) {
    this.f = new Int32Array(fields * 2);
  }

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.carry) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = undefined;
    }
    let p = 0;
    if (!this.headerDone) {
      if (buf.length < 19 || buf.length < 19 + buf.readInt32BE(15)) {
        this.carry = Buffer.from(buf);
        return;
      }
      if (!buf.subarray(0, 11).equals(SIGNATURE)) throw new Error('verifyLog: unexpected COPY header');
      p = 19 + buf.readInt32BE(15);
      this.headerDone = true;
    }
    const f = this.f;
    const fields = this.fields;
    const n = buf.length;
    while (p + 2 <= n) {
      const count = (((buf[p] as number) << 24) >> 16) | (buf[p + 1] as number);
      if (count === -1) {
        this.ended = true;
        p += 2;
        break;
      }
      if (count !== fields) throw new Error(`verifyLog: COPY row with ${count} fields`);
      let q = p + 2;
      let complete = true;
      for (let k = 0; k < fields; k++) {
        if (q + 4 > n) {
          complete = false;
          break;
        }
        const len = ((buf[q] as number) << 24) | ((buf[q + 1] as number) << 16) | ((buf[q + 2] as number) << 8) | (buf[q + 3] as number);
        q += 4;
        if (len < 0) {
          f[2 * k] = q;
          f[2 * k + 1] = -1;
          continue;
        }
        if (q + len > n) {
          complete = false;
          break;
        }
        f[2 * k] = q;
        f[2 * k + 1] = q + len;
        q += len;
      }
      if (!complete) break;
      this.row(buf, f);
      p = q;
    }
    if (p < n && !this.ended) this.carry = Buffer.from(buf.subarray(p));
  }

  /** After the COPY finished: all of it was rows. */
  finish(): void {
    if (!this.ended || this.carry) throw new Error('verifyLog: the COPY data ended early');
  }
}
