/**
 * Pass 1 of verifyLog over one range of streams: reads the events in (stream, revision) order as
 * binary COPY data and checks every stream's hash chain, revisions, positions and head.
 *
 * The checks and the problems they report are exactly those of the original page-by-page loop
 * (see verify.ts); what changed is how each event's expected hash is computed: from the row's bytes
 * without JavaScript objects per row (jsonb-canonical.ts explains why that is the same text), with
 * node:crypto's one-shot hash, and the reference `canonicalEventJson` for any event whose data or
 * metadata falls outside the fast path.
 */
import { createHash, hash as sha256Once } from 'node:crypto';
import { canonicalize } from '../canonical-json.ts';
import { GENESIS_HASH } from '../hash.ts';
import { CopyRows } from './copy-out.ts';
import { JsonbCanonicalWriter } from './jsonb-canonical.ts';
import type { LogProblem } from './verify.ts';

/** Records a problem; returns a handle to annotate (a one-revision gap), undefined once capped. */
export type Reporter = (p: LogProblem, sortKey?: bigint) => { gap?: { lo: bigint; hi: bigint } } | undefined;

/**
 * The pass 1 query for streams in [from, to) (either bound open when undefined), one row per event
 * with its stream's head (NULLs when the stream has none), as binary COPY.
 */
export function chainCopySql(schemaIdent: string, from: string | undefined, to: string | undefined): string {
  const bounds = [
    from === undefined ? undefined : `e.stream >= ${textLiteral(from)}`,
    to === undefined ? undefined : `e.stream < ${textLiteral(to)}`,
  ].filter((x): x is string => x !== undefined);
  return `copy (select e.stream, e.revision, e.position, e.event_id, e.type, e.data, e.metadata, e.hash,
                       h.revision, h.last_position, h.last_hash
                  from ${schemaIdent}.events e left join ${schemaIdent}.streams h on h.stream = e.stream
                 ${bounds.length > 0 ? `where ${bounds.join(' and ')}` : ''}
                 order by e.stream, e.revision) to stdout (format binary)`;
}

/** A text literal that no stream name can break out of (COPY takes no parameters). */
function textLiteral(value: string): string {
  return `convert_from('\\x${Buffer.from(value, 'utf8').toString('hex')}'::bytea, 'UTF8')`;
}

const FIELDS = 11;
const HEX = Buffer.from(Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0')).join(''), 'latin1');
const L_DATA = Buffer.from('{"data":', 'latin1');
const L_EVENT_ID = Buffer.from(',"eventId":"', 'latin1');
const L_METADATA = Buffer.from('","metadata":', 'latin1');
const L_STREAM = Buffer.from(',"stream":', 'latin1');
const L_REVISION = Buffer.from(',"streamRevision":', 'latin1');
const L_TYPE = Buffer.from(',"type":', 'latin1');

interface Stream {
  name: string;
  /** the stream name as UTF-8, for comparing rows without decoding them */
  bytes: Buffer;
  /** JSON string of the name (UTF-8) */
  json: Buffer;
  next: bigint;
  prevHash: Buffer;
  prevPosition: bigint;
  head: { revision: bigint; lastPosition: bigint; lastHash: Buffer } | undefined;
}

export class ChainScanner {
  eventsChecked = 0;
  streamsChecked = 0;
  /** streams whose head row was found (each head belongs to one stream name) */
  streamsWithHead = 0;
  private cur: Stream | undefined;
  private readonly hasher = new EventHasher();
  private readonly rows = new CopyRows(FIELDS, (buf) => this.row(buf));
  /** field offsets of the row being processed: start, end (-1 = NULL) per field */
  private readonly f = this.rows.f;

  constructor(private readonly report: Reporter) {}

  /** Feeds one CopyData payload. */
  push(chunk: Buffer): void {
    this.rows.push(chunk);
  }

  /** After the COPY finished: closes the last stream. */
  finish(): void {
    this.rows.finish();
    this.finishStream();
  }

  private row(buf: Buffer): void {
    const f = this.f;
    const ss = f[0] as number;
    const se = f[1] as number;
    if (se < 0 || (f[3] as number) < 0 || (f[5] as number) < 0) throw new Error('verifyLog: NULL stream, revision or position');
    this.eventsChecked++;
    const revision = buf.readBigInt64BE(f[2]);
    const position = buf.readBigInt64BE(f[4]);
    let cur = this.cur;
    if (!cur || !sameBytes(buf, ss, se, cur.bytes)) {
      this.finishStream();
      cur = this.startStream(buf);
    }
    let chainKnown = true;
    if (revision > cur.next) {
      const entry = this.report(
        {
          kind: 'missing',
          stream: cur.name,
          revision: cur.next,
          message:
            revision - cur.next === 1n
              ? `stream ${cur.name}: revision ${cur.next} is missing (between positions ${cur.prevPosition} and ${position})`
              : `stream ${cur.name}: revisions ${cur.next}..${revision - 1n} are missing (between positions ${cur.prevPosition} and ${position})`,
        },
        position,
      );
      if (entry && revision - cur.next === 1n) entry.gap = { lo: cur.prevPosition, hi: position };
      chainKnown = false; // the missing event's hash is unknown: resume the chain at this row
    }
    const hs = f[14] as number;
    const he = f[15] as number;
    if (chainKnown && !this.hashMatches(buf, cur, revision, hs, he)) {
      this.report({
        kind: 'modified',
        stream: cur.name,
        revision,
        position,
        message: `stream ${cur.name} revision ${revision} (position ${position}): content or hash was changed (hash chain broken)`,
      });
    }
    if (position <= cur.prevPosition) {
      this.report({
        kind: 'reordered',
        stream: cur.name,
        revision,
        position,
        message: `stream ${cur.name} revision ${revision} is at position ${position}, not after revision ${revision - 1n} at ${cur.prevPosition}`,
      });
    }
    cur.next = revision + 1n;
    // continue from the stored hash so one change is reported once
    if (he - hs === 32 && cur.prevHash.length === 32) for (let k = 0; k < 32; k++) cur.prevHash[k] = buf[hs + k] as number;
    else if (he - hs === 32) cur.prevHash = Buffer.from(buf.subarray(hs, he));
    else cur.prevHash = he < 0 ? Buffer.alloc(0) : Buffer.from(buf.subarray(hs, he));
    cur.prevPosition = position;
  }

  private startStream(buf: Buffer): Stream {
    const f = this.f;
    const bytes = Buffer.from(buf.subarray(f[0] as number, f[1] as number));
    const name = bytes.toString('utf8');
    const headNulls = Number((f[17] as number) < 0) + Number((f[19] as number) < 0) + Number((f[21] as number) < 0);
    if (headNulls !== 0 && headNulls !== 3) throw new Error(`verifyLog: stream ${name}: NULL in its head row`);
    const head =
      headNulls === 3
        ? undefined
        : {
            revision: buf.readBigInt64BE(f[16]),
            lastPosition: buf.readBigInt64BE(f[18]),
            lastHash: Buffer.from(buf.subarray(f[20] as number, f[21] as number)),
          };
    const cur: Stream = {
      name,
      bytes,
      json: jsonString(buf, f[0] as number, f[1] as number) ?? Buffer.from(JSON.stringify(name), 'utf8'),
      next: 0n,
      prevHash: Buffer.from(GENESIS_HASH),
      prevPosition: -1n,
      head,
    };
    if (head) this.streamsWithHead++;
    this.cur = cur;
    return cur;
  }

  private finishStream(): void {
    const cur = this.cur;
    if (!cur) return;
    this.cur = undefined;
    this.streamsChecked++;
    const last = cur.next - 1n;
    const head = cur.head;
    if (!head) {
      this.report(
        {
          kind: 'inserted',
          stream: cur.name,
          revision: 0n,
          message: `stream ${cur.name} has events but no stream head: its events were inserted behind the store's back`,
        },
        cur.prevPosition,
      );
      return;
    }
    if (head.revision > last) {
      this.report(
        {
          kind: 'missing',
          stream: cur.name,
          revision: last + 1n,
          position: head.lastPosition === cur.prevPosition ? undefined : head.lastPosition,
          message: `stream ${cur.name}: the head says revision ${head.revision} but the events end at ${last}: revisions ${last + 1n}..${head.revision} are missing`,
        },
        head.lastPosition,
      );
    } else if (head.revision < last) {
      this.report(
        {
          kind: 'inserted',
          stream: cur.name,
          revision: head.revision + 1n,
          message: `stream ${cur.name}: events after the head revision ${head.revision} (up to ${last}) were inserted`,
        },
        cur.prevPosition,
      );
    } else if (!head.lastHash.equals(cur.prevHash) || head.lastPosition !== cur.prevPosition) {
      this.report(
        {
          kind: 'head_mismatch',
          stream: cur.name,
          revision: last,
          position: cur.prevPosition,
          message: `stream ${cur.name}: the head's hash or position differs from revision ${last}'s`,
        },
        cur.prevPosition,
      );
    }
  }

  /**
   * SHA-256(previous stored hash ‖ UTF-8(canonical event JSON)) of the current row equals its
   * stored hash (the definition is hashEvent/canonicalEventJson in hash.ts).
   */
  private hashMatches(buf: Buffer, cur: Stream, revision: bigint, hs: number, he: number): boolean {
    if (he - hs !== 32) return false; // NULL or not a SHA-256: no content can match it
    const h = this.hasher;
    const o = h.build(buf, this.f, cur.json, cur.json.length, revision);
    if (o < 0) return false;
    const prev = cur.prevHash;
    if (prev.length !== 32) {
      // a stored hash that is not a SHA-256 (tampered): hash exactly those bytes
      const digest = createHash('sha256').update(prev).update(h.out.subarray(32, o)).digest();
      return digest.equals(buf.subarray(hs, he));
    }
    return h.matches(prev, 0, o, buf, hs);
  }
}

/**
 * The canonical JSON of one event row of the COPY (fields stream, revision, position, event_id,
 * type, data, metadata, hash, ... as in chainCopySql and positionCopySql), written after 32 bytes
 * kept for the previous hash, and the SHA-256 of both compared with a stored hash.
 */
export class EventHasher {
  /** bytes 0..32: the previous hash (set by matches()); then the canonical JSON written by build() */
  out: Buffer = Buffer.allocUnsafe(1 << 16);
  private readonly writer = new JsonbCanonicalWriter();
  private reserve = 0;

  /**
   * Writes the canonical JSON of the row whose field offsets are `f` at out[32..]; returns its
   * end, or -1 when the row's content cannot be what was hashed (NULL content, a non-uuid id, or
   * data without a canonical form). `streamJson[0, streamJsonLength)` is the stream name as a
   * JSON string (UTF-8).
   */
  build(buf: Buffer, f: Int32Array, streamJson: Uint8Array, streamJsonLength: number, revision: bigint | number): number {
    const ds = f[10] as number;
    const de = f[11] as number;
    const ms = f[12] as number;
    const me = f[13] as number;
    const ts = f[8] as number;
    const te = f[9] as number;
    const is = f[6] as number;
    if (de < 0 || me < 0 || te < 0 || f[7] !== is + 16) return -1; // NULL content cannot be what was hashed
    // jsonb's binary form is a version byte (1) and the text
    if (buf[ds] !== 1 || buf[ms] !== 1) throw new Error('verifyLog: unknown jsonb binary format version');
    // room for everything written without a capacity check (hash, literals, id, stream, revision,
    // type); the two JSON writers check their own and otherwise go through ensure()
    this.reserve = 128 + (streamJsonLength + (te - ts)) * 6;
    const need = this.reserve + (de - ds + me - ms) * 2;
    if (this.out.length < need) this.out = Buffer.allocUnsafe(Math.max(need, this.out.length * 2));
    let out = this.out;
    let o = put(L_DATA, out, 32);
    let o2 = this.writer.write(buf, ds + 1, de, out, o);
    if (o2 < 0) {
      const text = referenceCanonical(buf, ds + 1, de);
      if (text === undefined) return -1;
      ({ out, o: o2 } = this.ensure(out, o, text));
    }
    o = put(L_EVENT_ID, out, o2);
    o = uuid(buf, is, out, o);
    o = put(L_METADATA, out, o);
    o2 = this.writer.write(buf, ms + 1, me, out, o);
    if (o2 < 0) {
      const text = referenceCanonical(buf, ms + 1, me);
      if (text === undefined) return -1;
      ({ out, o: o2 } = this.ensure(out, o, text));
    }
    o = put(L_STREAM, out, o2);
    for (let k = 0; k < streamJsonLength; k++) out[o++] = streamJson[k] as number;
    o = put(L_REVISION, out, o);
    o = typeof revision === 'number' ? decimal(revision, out, o) : o + out.write(revision.toString(), o, 'latin1');
    o = put(L_TYPE, out, o);
    const o3 = jsonStringInto(buf, ts, te, out, o);
    if (o3 >= 0) o = o3;
    else ({ out, o } = this.ensure(out, o, JSON.stringify(buf.toString('utf8', ts, te))));
    out[o++] = 0x7d;
    return o;
  }

  /**
   * SHA-256(prev[at, at + 32) ‖ out[32, end)) equals stored[hs, hs + 32). The digest comes back
   * as a 'binary' (latin1) string, one char per byte, and is compared in place: node:crypto's
   * one-shot 'buffer' output would cost more than the comparison itself.
   */
  matches(prev: Uint8Array, at: number, end: number, stored: Uint8Array, hs: number): boolean {
    const out = this.out;
    for (let k = 0; k < 32; k++) out[k] = prev[at + k] as number;
    const digest = sha256Once('sha256', new Uint8Array(out.buffer, out.byteOffset, end), 'binary');
    for (let k = 0; k < 32; k++) if (digest.charCodeAt(k) !== stored[hs + k]) return false;
    return true;
  }

  /** Writes `text` (UTF-8) at o, growing the output buffer when needed. */
  private ensure(out: Buffer, o: number, text: string): { out: Buffer; o: number } {
    const need = o + Buffer.byteLength(text, 'utf8') + this.reserve;
    if (need > out.length) {
      const bigger = Buffer.allocUnsafe(need * 2);
      out.copy(bigger, 0, 0, o);
      this.out = bigger;
      out = bigger;
    }
    return { out, o: o + out.write(text, o, 'utf8') };
  }
}

/** A non-negative safe integer in decimal at o. */
function decimal(n: number, out: Buffer, o: number): number {
  if (n < 10) {
    out[o] = 0x30 + n;
    return o + 1;
  }
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  let q = n;
  for (let k = digits - 1; k >= 0; k--) {
    out[o + k] = 0x30 + (q % 10);
    q = Math.floor(q / 10);
  }
  return o + digits;
}

/**
 * The reference for data or metadata outside the fast path: what the store's readers get
 * (JSON.parse of jsonb's text, as pg's type parser does) canonicalised. Undefined when it has no
 * canonical form (e.g. a number beyond double range): no stored hash can be over such content.
 */
function referenceCanonical(buf: Buffer, start: number, end: number): string | undefined {
  try {
    return canonicalize(JSON.parse(buf.toString('utf8', start, end)));
  } catch (err) {
    if (err instanceof TypeError) return undefined;
    throw err;
  }
}

function sameBytes(buf: Buffer, s: number, e: number, b: Buffer): boolean {
  if (e - s !== b.length) return false;
  for (let k = 0; k < b.length; k++) if (buf[s + k] !== b[k]) return false;
  return true;
}

/** The JSON string of the UTF-8 text buf[s, e) when it needs no escapes (as JSON.stringify writes it). */
function jsonString(buf: Buffer, s: number, e: number): Buffer | undefined {
  const out = Buffer.allocUnsafe(e - s + 2);
  return jsonStringInto(buf, s, e, out, 0) < 0 ? undefined : out;
}

/**
 * Writes the JSON string of the UTF-8 text buf[s, e) at o when it needs no escapes: JSON.stringify
 * escapes only `"`, `\` and control characters below U+0020 (valid UTF-8 has no lone surrogates),
 * so without those the bytes between the quotes are the text's own. Returns -1 otherwise.
 */
export function jsonStringInto(buf: Buffer, s: number, e: number, out: Buffer, o: number): number {
  out[o++] = 0x22;
  for (let k = s; k < e; k++) {
    const b = buf[k] as number;
    if (b < 0x20 || b === 0x22 || b === 0x5c) return -1;
    out[o++] = b;
  }
  out[o++] = 0x22;
  return o;
}

function put(b: Buffer, out: Buffer, o: number): number {
  for (let k = 0; k < b.length; k++) out[o++] = b[k] as number;
  return o;
}

/** A binary uuid as PostgreSQL prints it (lower-case 8-4-4-4-12), which is what readers get. */
function uuid(buf: Buffer, s: number, out: Buffer, o: number): number {
  for (let k = 0; k < 16; k++) {
    if (k === 4 || k === 6 || k === 8 || k === 10) out[o++] = 0x2d;
    const b = (buf[s + k] as number) * 2;
    out[o++] = HEX[b] as number;
    out[o++] = HEX[b + 1] as number;
  }
  return o;
}
