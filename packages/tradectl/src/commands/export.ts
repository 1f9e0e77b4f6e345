/**
 * `tradectl export`: a range of the log as JSON lines with its hashes, and `tradectl verify --file`
 * that checks such a file offline with the event store's own hash rules (RFC 8785 canonical JSON,
 * SHA-256 chains per stream, seal hashes).
 *
 * File layout (one JSON object per line, `kind` first):
 *   {"kind":"header","format":"tradecore.export","version":1,"from":"<incl>","to":"<incl>",...}
 *   {"kind":"seal",...,"manifest":"<base64>"}   each seal lying wholly inside the range, written
 *                                                just before the events it covers
 *   {"kind":"event","position":"…","stream":"…","revision":"…","eventId":"…","type":"…",
 *    "data":{…},"metadata":{…},"recordedAt":"…","previousPosition":"…"|null,
 *    "previousHash":"<hex>"|null,"hash":"<hex>"}
 *   {"kind":"end","events":N,"firstPosition":"…","lastPosition":"…","seals":S,"digest":"<hex>"}
 * digest = SHA-256 over (be64 position ‖ event hash) of every event, in file order.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import {
  canonicalEventJson,
  eventHash,
  GENESIS_HASH,
  manifestEntries,
  manifestEntry,
  MANIFEST_ENTRY_BYTES,
  sealHash,
} from '@tradecore/event-store';
import type { PostgresConnection } from '../connect.ts';
import { badData, notFound } from '../errors.ts';
import type { Output } from '../io.ts';
import { VISIBLE_BOUND_SQL } from '../log.ts';
import type { Progress } from '../progress.ts';

export const EXPORT_FORMAT = 'tradecore.export';
export const EXPORT_VERSION = 1;

export interface ExportSummary {
  from: bigint;
  to: bigint;
  events: number;
  seals: number;
  firstPosition: bigint | null;
  lastPosition: bigint | null;
  digest: string;
}

interface ExportRow {
  position: string;
  stream: string;
  revision: string;
  event_id: string;
  type: string;
  data: unknown;
  metadata: unknown;
  recorded_at: Date;
  hash: Buffer;
  prev_hash: Buffer | null;
  prev_position: string | null;
}

interface SealHead {
  seal_id: string;
  from_position: string;
  to_position: string;
  event_count: number;
  previous_hash: Buffer;
  hash: Buffer;
  sealed_at: Date;
}

/** Writes events in [from, to] (inclusive positions) with hashes and the seals inside the range. */
export async function exportRange(
  conn: PostgresConnection,
  out: Output,
  range: { from: bigint; to: bigint },
  options: { batchSize?: number; progress?: Progress } = {},
): Promise<ExportSummary> {
  const s = `"${conn.schema}"`;
  const batch = options.batchSize ?? 5000;
  const fromExclusive = range.from > 0n ? range.from - 1n : 0n;
  const seals = (
    await conn.pool.query<SealHead>(
      `select seal_id::text as seal_id, from_position::text as from_position, to_position::text as to_position, event_count,
              previous_hash, hash, sealed_at
         from ${s}.seals where from_position >= $1::bigint and to_position <= $2::bigint order by seal_id`,
      [fromExclusive.toString(), range.to.toString()],
    )
  ).rows;
  out.line(
    JSON.stringify({
      kind: 'header',
      format: EXPORT_FORMAT,
      version: EXPORT_VERSION,
      from: range.from.toString(),
      to: range.to.toString(),
      storeSchema: conn.schema,
      exportedAt: new Date().toISOString(),
      hash: 'sha256(previousHash ‖ RFC 8785 JSON of {data,eventId,metadata,stream,streamRevision,type}); seals: tradecore.seal.v1',
    }),
  );
  const digest = createHash('sha256');
  let sealIndex = 0;
  let sealsWritten = 0;
  const writeSeal = async (seal: SealHead): Promise<void> => {
    const m = await conn.pool.query<{ manifest: Buffer }>(`select manifest from ${s}.seals where seal_id = $1::bigint`, [seal.seal_id]);
    out.line(
      JSON.stringify({
        kind: 'seal',
        sealId: seal.seal_id,
        fromPosition: seal.from_position,
        toPosition: seal.to_position,
        eventCount: seal.event_count,
        previousHash: seal.previous_hash.toString('hex'),
        hash: seal.hash.toString('hex'),
        sealedAt: seal.sealed_at.toISOString(),
        manifest: (m.rows[0]?.manifest ?? Buffer.alloc(0)).toString('base64'),
      }),
    );
    sealsWritten++;
    await out.maybeFlush();
  };
  let events = 0;
  let first: bigint | null = null;
  let last: bigint | null = null;
  let cursor = fromExclusive;
  const text = `select e.position::text as position, e.stream, e.revision::text as revision, e.event_id::text as event_id, e.type,
                       e.data, e.metadata, e.recorded_at, e.hash, p.hash as prev_hash, p.position::text as prev_position
                  from ${s}.events e
                  left join ${s}.events p on p.stream = e.stream and p.revision = e.revision - 1
                 where e.position > $1::bigint and e.position <= $2::bigint and e.position < ${VISIBLE_BOUND_SQL}
                 order by e.position limit $3::bigint`;
  for (;;) {
    const r = await conn.pool.query<ExportRow>(text, [cursor.toString(), range.to.toString(), String(batch)]);
    for (const row of r.rows) {
      const position = BigInt(row.position);
      for (let next = seals[sealIndex]; next && BigInt(next.from_position) < position; next = seals[sealIndex]) {
        await writeSeal(next);
        sealIndex++;
      }
      const revision = BigInt(row.revision);
      out.line(
        JSON.stringify({
          kind: 'event',
          position: row.position,
          stream: row.stream,
          revision: row.revision,
          eventId: row.event_id,
          type: row.type,
          data: row.data,
          metadata: row.metadata,
          recordedAt: row.recorded_at.toISOString(),
          previousPosition: row.prev_position,
          previousHash: revision === 0n ? GENESIS_HASH.toString('hex') : (row.prev_hash?.toString('hex') ?? null),
          hash: row.hash.toString('hex'),
        }),
      );
      digest.update(manifestEntry(position, row.hash));
      events++;
      first ??= position;
      last = position;
      await out.maybeFlush();
    }
    options.progress?.update(r.rows.length);
    const tail = r.rows[r.rows.length - 1];
    if (!tail || r.rows.length < batch) break;
    cursor = BigInt(tail.position);
  }
  for (; sealIndex < seals.length; sealIndex++) {
    const seal = seals[sealIndex];
    if (seal) await writeSeal(seal);
  }
  const digestHex = digest.digest('hex');
  out.line(
    JSON.stringify({
      kind: 'end',
      events,
      firstPosition: first?.toString() ?? null,
      lastPosition: last?.toString() ?? null,
      seals: sealsWritten,
      digest: digestHex,
    }),
  );
  await out.flush();
  return { from: range.from, to: range.to, events, seals: sealsWritten, firstPosition: first, lastPosition: last, digest: digestHex };
}

// ---------------- offline verification ----------------

export type ProblemKind = 'modified' | 'missing' | 'inserted' | 'reordered' | 'head_mismatch' | 'seal_broken' | 'truncated';

export interface Problem {
  kind: ProblemKind;
  stream?: string;
  revision?: bigint;
  position?: bigint;
  sealId?: bigint;
  line?: number;
  message: string;
}

export interface FileVerifyReport {
  ok: boolean;
  firstProblem?: Problem;
  problems: Problem[];
  truncated: boolean;
  eventsChecked: number;
  streamsChecked: number;
  sealsChecked: number;
  from?: bigint;
  to?: bigint;
  digest: string;
  lastSeal?: { sealId: bigint; toPosition: bigint; hash: string };
}

function hexOrNull(v: unknown, what: string, line: number): Buffer | null {
  if (v === null) return null;
  if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) throw badData(`line ${line}: ${what} is not a 32-byte hex hash`);
  return Buffer.from(v, 'hex');
}

function bigintField(v: unknown, what: string, line: number): bigint {
  if (typeof v !== 'string' || !/^\d{1,19}$/.test(v)) throw badData(`line ${line}: ${what} is not a position/revision string`);
  return BigInt(v);
}

interface OpenSeal {
  sealId: bigint;
  from: bigint;
  to: bigint;
  hash: Buffer;
  /** position hex-hash → sealed position */
  sealed: { position: bigint; hash: Buffer }[];
  sealedByHash: Map<string, bigint>;
  rows: { position: bigint; hash: Buffer; stream: string; revision: bigint; line: number }[];
}

export interface FileVerifyOptions {
  anchors?: readonly { sealId: bigint; hash: string }[];
  /** Expected digest of the file (from the exporter's output), hex. */
  digest?: string;
  maxProblems?: number;
  progress?: Progress;
}

/** Verifies an export file offline; throws CliError(65) when it is not an export at all. */
export async function verifyExportFile(path: string, options: FileVerifyOptions = {}): Promise<FileVerifyReport> {
  const maxProblems = options.maxProblems ?? 100;
  const problems: { p: Problem; key: bigint | undefined; n: number }[] = [];
  let truncated = false;
  const report = (p: Problem): void => {
    if (problems.length >= maxProblems) {
      truncated = true;
      return;
    }
    problems.push({ p, key: p.position, n: problems.length });
  };

  let input: ReturnType<typeof createReadStream>;
  try {
    input = createReadStream(path, { encoding: 'utf8' });
    await new Promise<void>((resolve, reject) => {
      input.once('open', () => resolve());
      input.once('error', reject);
    });
  } catch (err) {
    throw notFound(`cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const lines = createInterface({ input, crlfDelay: Infinity });

  const digest = createHash('sha256');
  const streams = new Map<string, { revision: bigint; hash: Buffer; position: bigint }>();
  const anchors = new Map((options.anchors ?? []).map((a) => [a.sealId, a.hash.toLowerCase()]));
  let header: { from: bigint; to: bigint } | undefined;
  let end: Record<string, unknown> | undefined;
  let lineNo = 0;
  let events = 0;
  let sealsChecked = 0;
  let lastPosition: bigint | undefined;
  let firstPosition: bigint | undefined;
  let prevSeal: { id: bigint; to: bigint; hash: Buffer } | undefined;
  let open: OpenSeal | undefined;
  let lastSeal: FileVerifyReport['lastSeal'];

  const closeSeal = (): void => {
    if (!open) return;
    const o = open;
    open = undefined;
    const rowHashes = new Set(o.rows.map((r) => r.hash.toString('hex')));
    let i = 0;
    let j = 0;
    while (i < o.sealed.length || j < o.rows.length) {
      const m = o.sealed[i];
      const r = o.rows[j];
      if (m && r && m.position === r.position) {
        if (!m.hash.equals(r.hash)) {
          const movedFrom = o.sealedByHash.get(r.hash.toString('hex'));
          report({
            kind: movedFrom !== undefined ? 'reordered' : 'modified',
            stream: r.stream,
            revision: r.revision,
            position: r.position,
            sealId: o.sealId,
            line: r.line,
            message:
              movedFrom !== undefined
                ? `stream ${r.stream} revision ${r.revision} sits at position ${r.position} but was sealed at position ${movedFrom}`
                : `stream ${r.stream} revision ${r.revision} (position ${r.position}) differs from the event sealed there`,
          });
        }
        i++;
        j++;
      } else if (m && (!r || m.position < r.position)) {
        if (!rowHashes.has(m.hash.toString('hex'))) {
          report({ kind: 'missing', position: m.position, sealId: o.sealId, message: `the event sealed at position ${m.position} (seal ${o.sealId}) is not in the file` });
        }
        i++;
      } else if (r) {
        const movedFrom = o.sealedByHash.get(r.hash.toString('hex'));
        report({
          kind: movedFrom !== undefined ? 'reordered' : 'inserted',
          stream: r.stream,
          revision: r.revision,
          position: r.position,
          sealId: o.sealId,
          line: r.line,
          message:
            movedFrom !== undefined
              ? `stream ${r.stream} revision ${r.revision} sits at position ${r.position} but was sealed at position ${movedFrom}`
              : `stream ${r.stream} revision ${r.revision} at position ${r.position} is not in seal ${o.sealId}: inserted`,
        });
        j++;
      } else break;
    }
  };

  for await (const text of lines) {
    lineNo++;
    if (text.trim() === '') continue;
    let obj: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      obj = parsed as Record<string, unknown>;
    } catch (err) {
      if (lineNo === 1) throw badData(`${path} is not a tradectl export (line 1 is not JSON)`);
      report({ kind: 'modified', line: lineNo, message: `line ${lineNo} is not valid JSON: ${err instanceof Error ? err.message : String(err)}` });
      continue;
    }
    if (lineNo === 1) {
      if (obj.kind !== 'header' || obj.format !== EXPORT_FORMAT) throw badData(`${path} is not a tradectl export (no ${EXPORT_FORMAT} header)`);
      if (obj.version !== EXPORT_VERSION) throw badData(`${path}: export version ${String(obj.version)} is not supported (expected ${EXPORT_VERSION})`);
      header = { from: bigintField(obj.from, 'from', 1), to: bigintField(obj.to, 'to', 1) };
      continue;
    }
    if (end) {
      report({ kind: 'inserted', line: lineNo, message: `line ${lineNo} comes after the end record` });
      continue;
    }
    switch (obj.kind) {
      case 'seal': {
        closeSeal();
        sealsChecked++;
        const id = bigintField(obj.sealId, 'sealId', lineNo);
        const from = bigintField(obj.fromPosition, 'fromPosition', lineNo);
        const to = bigintField(obj.toPosition, 'toPosition', lineNo);
        const previousHash = hexOrNull(obj.previousHash, 'previousHash', lineNo) ?? GENESIS_HASH;
        const hash = hexOrNull(obj.hash, 'hash', lineNo) ?? Buffer.alloc(32);
        const manifest = Buffer.from(typeof obj.manifest === 'string' ? obj.manifest : '', 'base64');
        const broken = (message: string): void => report({ kind: 'seal_broken', sealId: id, position: from + 1n, line: lineNo, message: `seal ${id} (positions ${from}..${to}): ${message}` });
        if (prevSeal && id === prevSeal.id + 1n) {
          if (!previousHash.equals(prevSeal.hash)) broken('does not chain to the previous seal');
          if (from !== prevSeal.to) broken(`starts at position ${from}, but the previous seal ended at ${prevSeal.to}`);
        } else if (prevSeal && id <= prevSeal.id) broken(`comes after seal ${prevSeal.id}`);
        if (!sealHash(id, from, to, previousHash, manifest).equals(hash)) broken('its hash does not match its range and manifest');
        if (manifest.length % MANIFEST_ENTRY_BYTES !== 0 || manifest.length / MANIFEST_ENTRY_BYTES !== obj.eventCount) broken('event count and manifest disagree');
        const anchor = anchors.get(id);
        if (anchor !== undefined && anchor !== hash.toString('hex')) broken(`differs from the anchored hash ${anchor}`);
        anchors.delete(id);
        const sealed = [...manifestEntries(manifest)].map((e) => ({ position: e.position, hash: Buffer.from(e.hash) }));
        open = { sealId: id, from, to, hash, sealed, sealedByHash: new Map(sealed.map((e) => [e.hash.toString('hex'), e.position])), rows: [] };
        prevSeal = { id, to, hash };
        lastSeal = { sealId: id, toPosition: to, hash: hash.toString('hex') };
        break;
      }
      case 'event': {
        events++;
        const position = bigintField(obj.position, 'position', lineNo);
        const revision = bigintField(obj.revision, 'revision', lineNo);
        const stream = typeof obj.stream === 'string' ? obj.stream : '';
        const hash = hexOrNull(obj.hash, 'hash', lineNo);
        const previousHash = hexOrNull(obj.previousHash, 'previousHash', lineNo);
        if (!hash) throw badData(`line ${lineNo}: event without hash`);
        digest.update(manifestEntry(position, hash));
        firstPosition ??= position;
        if (header && (position < header.from || position > header.to)) {
          report({ kind: 'inserted', stream, revision, position, line: lineNo, message: `position ${position} is outside the exported range ${header.from}..${header.to}` });
        }
        if (lastPosition !== undefined && position <= lastPosition) {
          report({ kind: 'reordered', stream, revision, position, line: lineNo, message: `stream ${stream} revision ${revision} at position ${position} comes after position ${lastPosition}` });
        }
        lastPosition = position;
        if (previousHash === null) {
          report({ kind: 'missing', stream, revision, position, line: lineNo, message: `stream ${stream}: revision ${revision - 1n}, before position ${position}, was already missing when exported` });
        } else {
          const expected = eventHash(
            previousHash,
            canonicalEventJson({ stream, streamRevision: revision, eventId: String(obj.eventId), type: String(obj.type), data: obj.data, metadata: obj.metadata }),
          );
          if (!expected.equals(hash)) {
            report({ kind: 'modified', stream, revision, position, line: lineNo, message: `stream ${stream} revision ${revision} (position ${position}): content or hash was changed (hash mismatch)` });
          }
        }
        const prev = streams.get(stream);
        if (prev) {
          if (revision <= prev.revision) {
            report({ kind: 'reordered', stream, revision, position, line: lineNo, message: `stream ${stream} revision ${revision} at position ${position} comes after revision ${prev.revision} at ${prev.position}` });
          } else if (revision > prev.revision + 1n) {
            report({
              kind: 'missing',
              stream,
              revision: prev.revision + 1n,
              position,
              line: lineNo,
              message: `stream ${stream}: revision ${prev.revision + 1n}${revision - prev.revision > 2n ? `..${revision - 1n}` : ''} is missing (between positions ${prev.position} and ${position})`,
            });
          } else if (previousHash && !previousHash.equals(prev.hash)) {
            report({ kind: 'modified', stream, revision, position, line: lineNo, message: `stream ${stream} revision ${revision} (position ${position}) does not chain to revision ${prev.revision} (hash chain broken)` });
          }
        } else if (revision === 0n) {
          if (previousHash && !previousHash.equals(GENESIS_HASH)) {
            report({ kind: 'modified', stream, revision, position, line: lineNo, message: `stream ${stream} revision 0 (position ${position}) does not start from the genesis hash` });
          }
        } else if (header && typeof obj.previousPosition === 'string' && /^\d+$/.test(obj.previousPosition)) {
          const pp = BigInt(obj.previousPosition);
          if (pp >= header.from) {
            report({
              kind: 'missing',
              stream,
              revision: revision - 1n,
              position: pp,
              line: lineNo,
              message: `stream ${stream}: revision ${revision - 1n} at position ${pp} is inside the exported range but not in the file`,
            });
          }
        }
        streams.set(stream, { revision, hash, position });
        if (open && position > open.from && position <= open.to) open.rows.push({ position, hash, stream, revision, line: lineNo });
        else if (open && position > open.to) closeSeal();
        if (events % 5000 === 0) options.progress?.update(5000);
        break;
      }
      case 'end':
        closeSeal();
        end = obj;
        break;
      default:
        report({ kind: 'inserted', line: lineNo, message: `line ${lineNo}: unknown record kind ${JSON.stringify(obj.kind)}` });
    }
  }
  closeSeal();
  if (!header) throw badData(`${path} is empty: not a tradectl export`);
  const digestHex = digest.digest('hex');
  if (!end) {
    report({ kind: 'truncated', position: lastPosition, message: `the file ends without its end record: truncated after position ${lastPosition ?? 'none'}` });
  } else {
    if (end.events !== events) report({ kind: 'missing', message: `the end record counts ${String(end.events)} events, the file holds ${events}` });
    if (end.digest !== digestHex) report({ kind: 'modified', message: `the file's digest ${digestHex} differs from the one recorded at export (${String(end.digest)})` });
    if (end.seals !== sealsChecked) report({ kind: 'seal_broken', message: `the end record counts ${String(end.seals)} seals, the file holds ${sealsChecked}` });
  }
  if (options.digest !== undefined && options.digest.toLowerCase() !== digestHex) {
    report({ kind: 'modified', message: `the file's digest ${digestHex} differs from the expected --digest ${options.digest}` });
  }
  for (const [sealId, hash] of anchors) report({ kind: 'seal_broken', sealId, message: `anchored seal ${sealId} (${hash}) is not in the file` });
  options.progress?.update(events, true);

  const sorted = problems.sort((a, b) => {
    if (a.key !== undefined && b.key !== undefined && a.key !== b.key) return a.key < b.key ? -1 : 1;
    if (a.key === undefined && b.key !== undefined) return 1;
    if (b.key === undefined && a.key !== undefined) return -1;
    return a.n - b.n;
  });
  return {
    ok: sorted.length === 0 && !truncated,
    firstProblem: sorted[0]?.p,
    problems: sorted.map((x) => x.p),
    truncated,
    eventsChecked: events,
    streamsChecked: streams.size,
    sealsChecked,
    from: header.from,
    to: header.to,
    digest: digestHex,
    lastSeal,
  };
}
