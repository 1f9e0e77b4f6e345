/** Small SQL helpers shared by the projector, the rebuild and the analytics installer. */
import type pg from 'pg';
import { createHash } from 'node:crypto';

/** Anything that runs a query: a pool or a checked-out client (inside a transaction). */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(config: pg.QueryConfig): Promise<pg.QueryResult<R>>;
}

const preparedNames = new Map<string, string>();

/**
 * A statement of fixed text (parameters only in `values`) as a named prepared statement:
 * PostgreSQL parses and plans it once per connection instead of on every call. The name is derived
 * from the text, so one name always means one text on every connection of every pool.
 */
export function prepared(text: string, values: unknown[]): pg.QueryConfig {
  let name = preparedNames.get(text);
  if (name === undefined) {
    if (preparedNames.size >= 10_000) preparedNames.clear();
    name = `tc_p_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    preparedNames.set(text, name);
  }
  return { name, text, values };
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/** A schema, role or table name as a quoted identifier; only lower-case identifiers are accepted. */
export function ident(name: string): string {
  if (!IDENT.test(name)) throw new Error(`invalid SQL identifier: ${JSON.stringify(name)}`);
  return `"${name}"`;
}

/** A string literal (for DDL statements that take no parameters, e.g. COMMENT ON, ALTER ROLE). */
export function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** 64-bit advisory lock key for a projection schema: serialises apply() and the rebuild swap. */
export function lockKeySql(schema: string): string {
  return `hashtextextended(${literal(`tradecore.projection:${schema}`)}, 0)`;
}

export interface Column {
  name: string;
  /** PostgreSQL type of the array element, e.g. `text`, `numeric`, `int`, `timestamptz`. */
  type: string;
}

/**
 * `insert ... select * from unnest($1::t1[], $2::t2[], ...)`: one statement for many rows.
 * `onConflict` is the tail (`on conflict (...) do update set ...`), or '' for plain inserts.
 * Each column goes as one array literal (see arrayLiteral), which is what pg would send for a JS
 * array, built without pg's per-element preparation.
 */
export function bulkInsertSql(table: string, columns: readonly Column[], rows: readonly unknown[][], onConflict: string, alias?: string): { text: string; values: unknown[] } | null {
  if (rows.length === 0) return null;
  const arrays = columns.map((_, i) => arrayLiteral(rows, i));
  const params = columns.map((c, i) => `$${i + 1}::${c.type}[]`).join(', ');
  const names = columns.map((c) => c.name).join(', ');
  return { text: `insert into ${table}${alias ? ` as ${alias}` : ''} (${names}) select * from unnest(${params}) ${onConflict}`, values: arrays };
}

const ARRAY_QUOTE = /["\\]/;

/**
 * Column `column` of `rows` as a one-dimensional PostgreSQL array literal: NULL for null or
 * undefined, strings double-quoted (backslash and double quote escaped), numbers, bigints and
 * booleans as text. The same literal pg builds from a JS array of these values.
 */
export function arrayLiteral(rows: readonly (readonly unknown[])[], column: number): string {
  let out = '{';
  for (let r = 0; r < rows.length; r++) {
    if (r > 0) out += ',';
    const v = rows[r]?.[column];
    if (v === null || v === undefined) out += 'NULL';
    else if (typeof v === 'string') out += ARRAY_QUOTE.test(v) ? `"${v.replace(/[\\"]/g, '\\$&')}"` : `"${v}"`;
    else if (typeof v === 'number' && Number.isFinite(v)) out += String(v);
    else if (typeof v === 'bigint') out += v.toString();
    else if (typeof v === 'boolean') out += v ? 'true' : 'false';
    else throw new TypeError(`arrayLiteral: cannot encode ${typeof v}`);
  }
  return `${out}}`;
}

export async function bulkInsert(db: Queryable, table: string, columns: readonly Column[], rows: readonly unknown[][], onConflict: string, alias?: string): Promise<void> {
  const st = bulkInsertSql(table, columns, rows, onConflict, alias);
  if (st) await db.query(st.text, st.values);
}

/** One value as a field of COPY's text format (`\N` is NULL). */
export function copyField(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  if (typeof value === 'string') return /[\\\t\n\r]/.test(value) ? value.replace(/[\\\t\n\r]/g, copyEscape) : value;
  if (typeof value === 'boolean') return value ? 't' : 'f';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw new TypeError(`copyField: cannot encode ${typeof value}`);
}

function copyEscape(c: string): string {
  return c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r';
}

/** The part of pg's connection a COPY FROM STDIN needs (not in @types/pg, present since pg 7). */
interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

/**
 * `COPY table (columns) FROM STDIN` through pg's Submittable interface (what pg-copy-streams does,
 * without the dependency): rows are encoded into one text-format payload and sent in one message,
 * right behind the COPY statement.
 * The server parses each field with the column type's input function, as it would an array
 * element of `unnest($1::t[])`, but without building, parsing and unnesting arrays.
 */
class CopyIn implements pg.Submittable {
  readonly done: Promise<void>;
  private settle!: (err?: Error) => void;

  constructor(
    private readonly text: string,
    private readonly payload: Buffer,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = (err) => (err ? reject(err) : resolve());
    });
  }

  submit(connection: pg.Connection): void {
    const c = connection as unknown as CopyConnection;
    c.query(this.text);
    // Sent without waiting for CopyInResponse: one round trip instead of two (an event-loop turn
    // each while a replay folds). If the COPY fails to start, the server ignores CopyData and
    // CopyDone outside copy mode (the protocol says so) and reports the error.
    if (this.payload.length > 0) c.sendCopyFromChunk(this.payload);
    c.endCopyFrom();
  }

  handleCopyInResponse(): void {}

  handleReadyForQuery(): void {
    this.settle();
  }

  handleError(err: Error): void {
    this.settle(err);
  }

  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}
}

/**
 * COPY's text format written straight into a growing buffer: no string per field or line. ASCII
 * text is copied byte by byte (escaping backslash, tab, newline and carriage return on the way);
 * a string with anything else goes through copyField and Buffer.write (UTF-8).
 */
class CopyPayload {
  private buf = Buffer.allocUnsafe(1 << 16);
  private len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.len++] = b;
  }

  ascii(text: string): void {
    const n = text.length;
    this.room(n);
    const buf = this.buf;
    let at = this.len;
    for (let i = 0; i < n; i++) buf[at++] = text.charCodeAt(i);
    this.len = at;
  }

  field(value: unknown): void {
    if (typeof value === 'string') {
      const n = value.length;
      // Escapes double a byte at most; non-ASCII text is handed to the slow path below.
      this.room(2 * n);
      const buf = this.buf;
      let at = this.len;
      for (let i = 0; i < n; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) return this.utf8(copyField(value));
        if (c === 0x5c || c === 0x09 || c === 0x0a || c === 0x0d) {
          buf[at++] = 0x5c;
          buf[at++] = c === 0x5c ? 0x5c : c === 0x09 ? 0x74 : c === 0x0a ? 0x6e : 0x72;
        } else {
          buf[at++] = c;
        }
      }
      this.len = at;
      return;
    }
    this.ascii(copyField(value));
  }

  private utf8(text: string): void {
    const n = Buffer.byteLength(text, 'utf8');
    this.room(n);
    this.len += this.buf.write(text, this.len, n, 'utf8');
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

/** The COPY text-format payload of rows: tab-separated fields, one line per row. */
export function copyPayload(rows: readonly (readonly unknown[])[]): Buffer {
  const out = new CopyPayload();
  for (const row of rows) {
    for (let c = 0; c < row.length; c++) {
      if (c > 0) out.byte(0x09);
      out.field(row[c]);
    }
    out.byte(0x0a);
  }
  return out.bytes();
}

/** Appends rows to a table with COPY FROM STDIN (plain inserts: any key conflict fails the COPY). */
export async function copyRows(client: pg.ClientBase, table: string, columns: readonly string[], rows: readonly (readonly unknown[])[]): Promise<void> {
  if (rows.length === 0) return;
  const copy = new CopyIn(`copy ${table} (${columns.join(', ')}) from stdin`, copyPayload(rows));
  client.query(copy);
  await copy.done;
}

/**
 * A write of the read models: what it writes (`writes`, one table) and which tables it reads that
 * earlier writes of the same batch may have changed (`reads`). Without `writes` it is run alone.
 */
export interface WriteStatement {
  text: string;
  values: unknown[];
  writes?: string;
  reads?: readonly string[];
}

const PLACEHOLDER = /\$(\d+)/y;

/**
 * A batch's writes in as few statements as keep their meaning, so a batch costs a few round trips
 * instead of one per table: each run of consecutive writes to different tables, none of which reads
 * a table written earlier in the run, becomes one statement of data-modifying WITH clauses
 * (PostgreSQL runs them all, on one snapshot; a row must not be changed twice in one statement,
 * which writing different tables rules out). A write that reads what an earlier one of its run
 * wrote starts the next run, so it sees that write as it would have in statements of its own.
 * `last`, a query that writes nothing (a NOTIFY), becomes the last statement's main query.
 * Placeholders are renumbered (not inside quoted literals); a `$n` beyond its statement's values is
 * refused.
 */
export function combineWrites(statements: readonly WriteStatement[], last?: { text: string; values: unknown[] }): { text: string; values: unknown[] }[] {
  const runs: WriteStatement[][] = [];
  let run: WriteStatement[] = [];
  let written = new Set<string>();
  for (const st of statements) {
    const joins = st.writes !== undefined && !written.has(st.writes) && !(st.reads ?? []).some((t) => written.has(t));
    if (!joins && run.length > 0) {
      runs.push(run);
      run = [];
      written = new Set();
    }
    run.push(st);
    if (st.writes === undefined) {
      runs.push(run);
      run = [];
      written = new Set();
    } else {
      written.add(st.writes);
    }
  }
  if (run.length > 0) runs.push(run);

  // The last run takes `last` as its main query when it is writes only (an unreferenced WITH that
  // writes nothing would never run); otherwise `last` goes on its own.
  const tail = runs[runs.length - 1];
  const lastJoins = last !== undefined && tail !== undefined && tail.every((st) => st.writes !== undefined);
  const out: { text: string; values: unknown[] }[] = [];
  runs.forEach((r, i) => {
    const main = lastJoins && i === runs.length - 1 ? last : undefined;
    const only = r[0];
    if (r.length === 1 && only && !main) {
      out.push({ text: only.text, values: only.values });
      return;
    }
    const values: unknown[] = [];
    const clauses: string[] = [];
    r.forEach((st, k) => {
      clauses.push(`w${k} as (${renumber(st.text, st.values.length, values.length)})`);
      values.push(...st.values);
    });
    const mainText = main ? renumber(main.text, main.values.length, values.length) : 'select 1 as written';
    if (main) values.push(...main.values);
    out.push({ text: `with ${clauses.join(', ')} ${mainText}`, values });
  });
  if (last && !lastJoins) out.push(last);
  return out;
}

/**
 * The statement with `$n` → `$(n + offset)`, outside quoted literals and identifiers ('…', "…",
 * their doubled quotes included), so a `$1` inside a string stays as written. The statements here
 * use no dollar quoting or comments; a `$n` beyond `count` is refused.
 */
function renumber(text: string, count: number, offset: number): string {
  // A batch's statements have the same few texts every time: each is scanned once per offset.
  const key = `${offset}:${count}:${text}`;
  const known = renumbered.get(key);
  if (known !== undefined) return known;
  if (renumbered.size >= 10_000) renumbered.clear();
  const out = scanRenumber(text, count, offset);
  renumbered.set(key, out);
  return out;
}

const renumbered = new Map<string, string>();

function scanRenumber(text: string, count: number, offset: number): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "'" || c === '"') {
      let j = i + 1;
      for (;;) {
        const q = text.indexOf(c, j);
        if (q < 0) throw new Error(`combineWrites: unterminated ${c} in a statement`);
        if (text[q + 1] === c) {
          j = q + 2;
          continue;
        }
        j = q + 1;
        break;
      }
      out += text.slice(i, j);
      i = j;
      continue;
    }
    PLACEHOLDER.lastIndex = i;
    const m = c === '$' ? PLACEHOLDER.exec(text) : null; // sticky: only a placeholder starting at i
    if (m) {
      const n = Number(m[1]);
      if (n < 1 || n > count) throw new Error(`combineWrites: $${m[1]} in a statement with ${count} values`);
      out += `$${n + offset}`;
      i += m[0].length;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}
