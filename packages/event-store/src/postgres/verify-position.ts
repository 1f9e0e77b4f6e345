/**
 * Pass 1 of verifyLog in global position order: the fast way to show that every chain is intact.
 *
 * Reading the events in (stream, revision) order costs PostgreSQL twice as much as reading them
 * in position order (an index walk over a heap that is in position order: measured 6.3 vs 3.1 µs
 * of backend CPU per event on 1,000,000 events). In position order the events of one stream come
 * interleaved with all others, so the last stored hash, revision and position of every stream are
 * kept in a map (one entry per stream), and the position range can be cut into parts read by
 * several connections: a stream's first event in a later part is checked when the parts are
 * joined, against the state the earlier parts ended with.
 *
 * This pass only decides "every chain and head is intact". It does not name problems: at the
 * first thing that is not exactly as an untouched log has it (a revision out of turn, a hash that
 * does not match, a head that disagrees, a stream without a head, a value outside the safe integer
 * range, ...) it gives up, and verifyLog runs the stream-order walk (verify-chains.ts), which names
 * every problem the way it always has. So a report never depends on which walk ran.
 *
 * Why "nothing wrong here" implies "nothing wrong in the stream-order walk": per stream, the events
 * in position order carry revisions 0, 1, 2, ... exactly (so sorted by revision there is no gap and
 * positions rise), every event's hash is SHA-256(stored hash of the previous revision ‖ canonical
 * JSON) as hashed by the same EventHasher, and the last event (highest position) equals its head
 * (revision, position, hash); every head is matched by exactly one stream, so no head lacks events.
 */
import { hash as sha256Once } from 'node:crypto';
import { GENESIS_HASH, MANIFEST_ENTRY_BYTES } from '../hash.ts';
import type pg from 'pg';
import { copyOut, CopyRows } from './copy-out.ts';
import { POSITIONS_PER_TRANSACTION_NUMBER as POSITIONS_PER_TRANSACTION } from './schema.ts';
import { StreamTable, type StreamTableData } from './stream-table.ts';
import { EventHasher, jsonStringInto } from './verify-chains.ts';

/**
 * Columns as in chainCopySql (the same first eight) and the row's transaction, in position order
 * within (after, upTo].
 */
export function positionCopySql(schemaIdent: string, after: bigint | undefined, upTo: bigint | undefined): string {
  const bounds = [
    after === undefined ? undefined : `position > ${after.toString()}`,
    upTo === undefined ? undefined : `position <= ${upTo.toString()}`,
  ].filter((x): x is string => x !== undefined);
  return `copy (select stream, revision, position, event_id, type, data, metadata, hash, transaction_id
                  from ${schemaIdent}.events ${bounds.length > 0 ? `where ${bounds.join(' and ')}` : ''}
                 order by position) to stdout (format binary)`;
}

export function headsCopySql(schemaIdent: string): string {
  return `copy (select stream, revision, last_position, last_hash from ${schemaIdent}.streams) to stdout (format binary)`;
}

const TWO_32 = 4294967296;

/** A big-endian int8 field as a number, NaN outside the safe integer range. */
function int64(buf: Buffer, at: number): number {
  const hi = buf.readInt32BE(at);
  if (hi > 0x1fffff || hi < -0x200000) return NaN;
  return hi * TWO_32 + buf.readUInt32BE(at + 4);
}

/** A stream whose first event in a later part is not revision 0: checked when the parts are joined. */
export interface Incoming {
  /** the stream name's bytes as a latin1 string (one char per byte) */
  key: string;
  revision: number;
  /** canonical JSON of that event (without the previous hash) */
  canonical: Uint8Array;
  /** its stored hash */
  hash: Uint8Array;
}

/** What one part of the position range is to read. */
export interface PartJob {
  /** the events table, quoted */
  schemaIdent: string;
  after: bigint | undefined;
  upTo: bigint | undefined;
  /** this part starts at the beginning of the log (every stream must start at revision 0) */
  first: boolean;
  /**
   * The to_position of every seal whose range lies in this part, ascending; the seals are
   * contiguous, so seal k covers (sealEnds[k - 1] or the part's start, sealEnds[k]]. Events after
   * the last one are the unsealed tail (only in the last part).
   */
  sealEnds: readonly number[];
}

/** A part's outcome: what the join, the head check and the seal pass need. */
export interface PartResult {
  anomaly: string | undefined;
  eventsChecked: number;
  /** streams whose revision 0 is in this part */
  streamsStarted: number;
  /** each stream's state after its last event in this part */
  readonly streams: StreamTable;
  readonly incoming: readonly Incoming[];
  /** SHA-256 of the (be64 position ‖ hash) of the events in each seal's range, as sealEnds */
  readonly sealDigests: readonly Uint8Array[];
  /** events after the last seal end */
  tailEvents: number;
}

/**
 * One part of the position range: checks its events and keeps each stream's state.
 *
 * It also does what pass 2 would otherwise read the events a second time for: every position
 * belongs to its row's transaction, and the (be64 position ‖ hash) bytes of each seal's range,
 * which an untouched range has exactly as its seal's manifest, are hashed for the seal pass to
 * compare (verify.ts).
 */
export class PositionScanner implements PartResult {
  eventsChecked = 0;
  anomaly: string | undefined;
  streamsStarted = 0;
  tailEvents = 0;
  readonly streams = new StreamTable();
  readonly incoming: Incoming[] = [];
  readonly sealDigests: Buffer[] = [];
  readonly rows: CopyRows;
  private lastPosition = -Infinity;
  private readonly hasher = new EventHasher();
  private json: Buffer = Buffer.allocUnsafe(256);
  private readonly first: boolean;
  private readonly sealEnds: readonly number[];
  private sealAt = 0;
  private manifest: Buffer = Buffer.allocUnsafe(MANIFEST_ENTRY_BYTES * 16384);
  private manifestLength = 0;

  constructor(job: Pick<PartJob, 'first' | 'sealEnds'>) {
    this.first = job.first;
    this.sealEnds = job.sealEnds;
    this.rows = new CopyRows(9, (buf, f) => {
      if (this.anomaly === undefined) this.row(buf, f);
    });
  }

  /** After the COPY finished: every row was read; the seals after the last event are closed. */
  finish(): void {
    this.rows.finish();
    if (this.anomaly === undefined) while (this.sealAt < this.sealEnds.length) this.closeSeal();
  }

  private fail(why: string): void {
    this.anomaly ??= why;
  }

  private closeSeal(): void {
    this.sealDigests.push(sha256Once('sha256', this.manifest.subarray(0, this.manifestLength), 'buffer'));
    this.manifestLength = 0;
    this.sealAt++;
  }

  private row(buf: Buffer, f: Int32Array): void {
    this.eventsChecked++;
    const ss = f[0] as number;
    const se = f[1] as number;
    const hs = f[14] as number;
    const ps = f[4] as number;
    const xs = f[16] as number;
    if (se < 0 || (f[3] as number) < 0 || (f[5] as number) < 0 || (f[15] as number) - hs !== 32 || f[3] !== (f[2] as number) + 8 || f[5] !== ps + 8 || f[17] !== xs + 8) {
      this.fail('a NULL or malformed stream, revision, position, hash or transaction');
      return;
    }
    const revision = int64(buf, f[2] as number);
    const position = int64(buf, ps);
    if (!(position > this.lastPosition) || !(revision >= 0)) {
      this.fail(`position ${position} or revision ${revision} out of order or range`);
      return;
    }
    this.lastPosition = position;
    const inTransaction = position - int64(buf, xs) * POSITIONS_PER_TRANSACTION;
    if (!(inTransaction >= 0 && inTransaction < POSITIONS_PER_TRANSACTION)) {
      this.fail(`position ${position} is not its transaction's`);
      return;
    }
    const sealEnds = this.sealEnds;
    while (this.sealAt < sealEnds.length && position > (sealEnds[this.sealAt] as number)) this.closeSeal();
    if (this.sealAt < sealEnds.length) {
      let m = this.manifest;
      let o = this.manifestLength;
      if (o + MANIFEST_ENTRY_BYTES > m.length) {
        const bigger = Buffer.allocUnsafe(m.length * 2);
        m.copy(bigger, 0, 0, o);
        this.manifest = m = bigger;
      }
      for (let k = 0; k < 8; k++) m[o++] = buf[ps + k] as number;
      for (let k = 0; k < 32; k++) m[o++] = buf[hs + k] as number;
      this.manifestLength = o;
    } else {
      this.tailEvents++;
    }
    const streams = this.streams;
    let slot = streams.find(buf, ss, se);
    let json = this.json;
    let jsonLength = se - ss + 2;
    if (jsonLength > json.length) json = this.json = Buffer.allocUnsafe(jsonLength * 2);
    if (jsonStringInto(buf, ss, se, json, 0) < 0) {
      json = Buffer.from(JSON.stringify(buf.toString('utf8', ss, se)), 'utf8');
      jsonLength = json.length;
    }
    const hasher = this.hasher;
    const end = hasher.build(buf, f, json, jsonLength, revision);
    if (end < 0) {
      this.fail(`stream ${buf.toString('utf8', ss, se)} revision ${revision}: content without a canonical form`);
      return;
    }
    if (slot < 0) {
      slot = streams.add(buf, ss, se);
      if (revision === 0) {
        this.streamsStarted++;
        if (!hasher.matches(GENESIS_HASH, 0, end, buf, hs)) {
          this.fail(`stream ${streams.name(slot)} revision 0: hash`);
          return;
        }
      } else if (this.first) {
        this.fail(`stream ${streams.name(slot)} starts at revision ${revision}`);
        return;
      } else {
        this.incoming.push({
          key: buf.toString('latin1', ss, se),
          revision,
          canonical: Buffer.from(hasher.out.subarray(32, end)),
          hash: Buffer.from(buf.subarray(hs, hs + 32)),
        });
      }
    } else {
      if (revision !== streams.next[slot]) {
        this.fail(`stream ${streams.name(slot)}: revision ${revision} after ${(streams.next[slot] as number) - 1}`);
        return;
      }
      if (!hasher.matches(streams.hashes, slot * 32, end, buf, hs)) {
        this.fail(`stream ${streams.name(slot)} revision ${revision}: hash`);
        return;
      }
    }
    streams.next[slot] = revision + 1;
    streams.last[slot] = position;
    const hashes = streams.hashes;
    for (let k = 0, o = slot * 32; k < 32; k++) hashes[o + k] = buf[hs + k] as number;
  }

  /** The part's outcome as structured-clonable data (a worker thread posts it; see PartResultData). */
  toData(): PartResultData {
    return {
      anomaly: this.anomaly,
      eventsChecked: this.eventsChecked,
      streamsStarted: this.streamsStarted,
      tailEvents: this.tailEvents,
      streams: this.streams.toData(),
      incoming: this.incoming,
      sealDigests: this.sealDigests.map((d) => new Uint8Array(d)),
    };
  }
}

/**
 * Reads `job`'s part on `client` (in the walk's snapshot) into a new PositionScanner: on this
 * thread or on a worker thread alike. Once `stopped()` (another part found something) the rest
 * only drains; `progress` gets the events checked by each chunk and whether the part found
 * something.
 */
export async function scanPart(
  client: pg.ClientBase,
  job: PartJob,
  stopped: () => boolean,
  progress: (events: number, anomaly: boolean) => void,
): Promise<PositionScanner> {
  const part = new PositionScanner(job);
  let seen = 0;
  await copyOut(client, positionCopySql(job.schemaIdent, job.after, job.upTo), (chunk) => {
    if (stopped()) return;
    part.rows.push(chunk);
    const delta = part.eventsChecked - seen;
    seen = part.eventsChecked;
    progress(delta, part.anomaly !== undefined);
  });
  if (!stopped() && part.anomaly === undefined) part.finish();
  return part;
}

/** PositionScanner.toData(). */
export interface PartResultData {
  anomaly: string | undefined;
  eventsChecked: number;
  streamsStarted: number;
  tailEvents: number;
  streams: StreamTableData;
  incoming: Incoming[];
  sealDigests: Uint8Array[];
}

/** A part scanned elsewhere (a worker thread), from its PartResultData. */
export function partFromData(d: PartResultData): PartResult {
  return {
    anomaly: d.anomaly,
    eventsChecked: d.eventsChecked,
    streamsStarted: d.streamsStarted,
    tailEvents: d.tailEvents,
    streams: new StreamTable(d.streams),
    incoming: d.incoming,
    sealDigests: d.sealDigests,
  };
}

/** The stream heads, read as binary COPY (headsCopySql), matched against the parts' final states. */
export class HeadCheck {
  matched = 0;
  heads = 0;
  anomaly: string | undefined;
  readonly rows: CopyRows;

  constructor(private readonly parts: readonly PartResult[]) {
    this.rows = new CopyRows(4, (buf, f) => {
      this.heads++;
      if (this.anomaly === undefined) this.row(buf, f);
    });
  }

  private row(buf: Buffer, f: Int32Array): void {
    const hs = f[6] as number;
    const ss = f[0] as number;
    const se = f[1] as number;
    if (se < 0 || f[3] !== (f[2] as number) + 8 || f[5] !== (f[4] as number) + 8 || (f[7] as number) - hs !== 32) {
      this.anomaly = 'a NULL or malformed head';
      return;
    }
    for (let k = this.parts.length - 1; k >= 0; k--) {
      const streams = (this.parts[k] as PartResult).streams;
      const slot = streams.find(buf, ss, se);
      if (slot < 0) continue;
      if (streams.headed[slot] === 1) {
        this.anomaly = `stream ${streams.name(slot)}: two heads`;
      } else if (
        int64(buf, f[2] as number) !== (streams.next[slot] as number) - 1 ||
        int64(buf, f[4] as number) !== streams.last[slot] ||
        !buf.subarray(hs, hs + 32).equals(streams.hashOf(slot))
      ) {
        this.anomaly = `stream ${streams.name(slot)}: head differs from its last event`;
      } else {
        streams.headed[slot] = 1;
        this.matched++;
      }
      return;
    }
    this.anomaly = `stream ${buf.toString('utf8', ss, se)}: a head without events`;
  }
}

/**
 * Joins the parts (in position order): each stream entering a later part continues the state an
 * earlier part left it in. Returns why not, or undefined when all of them do.
 */
export function joinParts(parts: readonly PartResult[]): string | undefined {
  for (let k = 1; k < parts.length; k++) {
    const part = parts[k] as PartResult;
    for (const e of part.incoming) {
      let found = false;
      const key = Buffer.from(e.key, 'latin1');
      for (let j = k - 1; j >= 0 && !found; j--) {
        const before = (parts[j] as PartResult).streams;
        const slot = before.find(key, 0, key.length);
        if (slot < 0) continue;
        found = true;
        const next = before.next[slot] as number;
        if (next !== e.revision) return `stream ${e.key}: revision ${e.revision} after ${next - 1}`;
        const digest = sha256Once('sha256', Buffer.concat([before.hashOf(slot), e.canonical]), 'buffer');
        if (!digest.equals(e.hash)) return `stream ${e.key} revision ${e.revision}: hash`;
      }
      if (!found) return `stream ${e.key} starts at revision ${e.revision}`;
    }
  }
  return undefined;
}
