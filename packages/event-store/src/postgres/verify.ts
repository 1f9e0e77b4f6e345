/**
 * verifyLog: walks the per-stream hash chains and the seals of a PostgreSQL event store and names
 * what was modified, deleted, inserted or reordered behind the store's back (e.g. by SQL).
 *
 * Pass 1 (streams, ordered by stream and revision): recomputes every event's hash from its content
 * and its predecessor's hash, checks revisions are 0..n without gaps, that global positions rise
 * with revisions, and that the stream head table agrees with the last event.
 * Pass 2 (global order): checks the seal chain, recomputes each seal from its manifest, and merges
 * each manifest with the events now in its range: an event gone from its sealed position is missing
 * (or moved: reordered), an event not in the manifest is inserted (or moved), a different hash at
 * a sealed position is modified. It also checks each position belongs to its row's transaction.
 *
 * Both passes read one REPEATABLE READ snapshot (a consistent cut, while appends go on) in pages,
 * so memory stays bounded by the page size, one seal's manifest and the streams of one page.
 */
import type pg from 'pg';
import { canonicalEventJson, eventHash, GENESIS_HASH, manifestEntries, MANIFEST_ENTRY_BYTES, sealHash } from '../hash.ts';
import type { EventMetadata } from '../port.ts';
import { assertSchemaName, POSITIONS_PER_TRANSACTION, quoteIdent } from './schema.ts';
import type { PostgresLogSource } from './sealer.ts';

export type LogProblemKind = 'modified' | 'missing' | 'inserted' | 'reordered' | 'head_mismatch' | 'seal_broken';

export interface LogProblem {
  kind: LogProblemKind;
  stream?: string;
  revision?: bigint;
  position?: bigint;
  sealId?: bigint;
  /** What is wrong, in words. */
  message: string;
}

export interface VerifyLogOptions {
  /** With a bare pool: the schema of the event tables. Default `event_store`. */
  schema?: string;
  /** Rows per query. Default 2000. */
  batchSize?: number;
  /** Stop collecting after this many problems. Default 100. */
  maxProblems?: number;
  /** Seal hashes kept outside the database (e.g. printed by an earlier audit): each must still match. */
  anchors?: readonly { sealId: bigint; hash: string }[];
  /** Called after every page (for a CLI's progress line). */
  onProgress?: (progress: { phase: 'chains' | 'seals'; eventsChecked: number; sealsChecked: number }) => void;
}

export interface VerifyReport {
  ok: boolean;
  /** The problem at the lowest global position (or the first found when no position is known). */
  firstProblem?: LogProblem;
  problems: LogProblem[];
  /** True when more problems exist than were collected. */
  truncated: boolean;
  eventsChecked: number;
  streamsChecked: number;
  sealsChecked: number;
  /** Events above the last seal: covered by their stream chains only. */
  unsealedEvents: number;
  lastSeal?: { sealId: bigint; toPosition: bigint; hash: string };
}

interface ChainRow {
  stream: string;
  revision: string;
  position: string;
  event_id: string;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  hash: Buffer;
}

interface HeadRow {
  stream: string;
  revision: string;
  last_position: string;
  last_hash: Buffer;
}

interface PositionRow {
  position: string;
  transaction_id: string;
  stream: string;
  revision: string;
  hash: Buffer;
}

interface SealRow {
  seal_id: string;
  from_position: string;
  to_position: string;
  event_count: number;
  manifest: Buffer;
  previous_hash: Buffer;
  hash: Buffer;
}

function isSource(x: pg.Pool | PostgresLogSource): x is PostgresLogSource {
  return 'pool' in x && typeof x.pool === 'object';
}

export async function verifyLog(
  source: PostgresLogSource | pg.Pool,
  options: VerifyLogOptions = {},
): Promise<VerifyReport> {
  const pool = isSource(source) ? source.pool : source;
  const schema = (isSource(source) ? source.schema : undefined) ?? options.schema ?? 'event_store';
  assertSchemaName(schema);
  if (isSource(source) && source.ready) await source.ready();
  const s = quoteIdent(schema);
  const batch = options.batchSize ?? 2000;
  const maxProblems = options.maxProblems ?? 100;

  interface Entry {
    p: LogProblem;
    key: bigint | undefined;
    n: number;
    /** pass 1 gap of exactly one revision, between these positions (exclusive) */
    gap?: { lo: bigint; hi: bigint };
    dropped?: boolean;
  }
  const problems: Entry[] = [];
  let truncated = false;
  const report = (p: LogProblem, sortKey?: bigint): Entry | undefined => {
    if (problems.length >= maxProblems) {
      truncated = true;
      return undefined;
    }
    const e: Entry = { p, key: sortKey ?? p.position, n: problems.length };
    problems.push(e);
    return e;
  };

  let eventsChecked = 0;
  let streamsChecked = 0;
  let sealsChecked = 0;
  let unsealedEvents = 0;
  let lastSeal: VerifyReport['lastSeal'];

  const client = await pool.connect();
  try {
    await client.query('begin isolation level repeatable read read only');

    // ---------------- pass 1: per-stream chains ----------------
    let cur: { stream: string; next: bigint; prevHash: Buffer; prevPosition: bigint; head: HeadRow | undefined } | undefined;
    const finishStream = (): void => {
      if (!cur) return;
      streamsChecked++;
      const last = cur.next - 1n;
      const head = cur.head;
      if (!head) {
        report(
          {
            kind: 'inserted',
            stream: cur.stream,
            revision: 0n,
            message: `stream ${cur.stream} has events but no stream head: its events were inserted behind the store's back`,
          },
          cur.prevPosition,
        );
        return;
      }
      const headRevision = BigInt(head.revision);
      if (headRevision > last) {
        report(
          {
            kind: 'missing',
            stream: cur.stream,
            revision: last + 1n,
            position: BigInt(head.last_position) === cur.prevPosition ? undefined : BigInt(head.last_position),
            message: `stream ${cur.stream}: the head says revision ${headRevision} but the events end at ${last}: revisions ${last + 1n}..${headRevision} are missing`,
          },
          BigInt(head.last_position),
        );
      } else if (headRevision < last) {
        report(
          {
            kind: 'inserted',
            stream: cur.stream,
            revision: headRevision + 1n,
            message: `stream ${cur.stream}: events after the head revision ${headRevision} (up to ${last}) were inserted`,
          },
          cur.prevPosition,
        );
      } else if (!head.last_hash.equals(cur.prevHash) || BigInt(head.last_position) !== cur.prevPosition) {
        report(
          {
            kind: 'head_mismatch',
            stream: cur.stream,
            revision: last,
            position: cur.prevPosition,
            message: `stream ${cur.stream}: the head's hash or position differs from revision ${last}'s`,
          },
          cur.prevPosition,
        );
      }
    };

    let after: [string, string] = ['', '-1'];
    for (;;) {
      const page = await client.query<ChainRow>(
        `select stream, revision, position, event_id,
                type, data, metadata, hash
           from ${s}.events where (stream, revision) > ($1::text, $2::bigint)
          order by stream, revision limit $3::bigint`,
        [after[0], after[1], String(batch)],
      );
      if (page.rows.length === 0) break;
      const streams = [...new Set(page.rows.map((r) => r.stream))];
      const heads = new Map(
        (
          await client.query<HeadRow>(
            `select stream, revision, last_position, last_hash
               from ${s}.streams where stream = any($1::text[])`,
            [streams],
          )
        ).rows.map((h) => [h.stream, h]),
      );
      for (const row of page.rows) {
        eventsChecked++;
        const revision = BigInt(row.revision);
        const position = BigInt(row.position);
        if (!cur || cur.stream !== row.stream) {
          finishStream();
          cur = { stream: row.stream, next: 0n, prevHash: GENESIS_HASH, prevPosition: -1n, head: heads.get(row.stream) };
        }
        let chainKnown = true;
        if (revision > cur.next) {
          const entry = report(
            {
              kind: 'missing',
              stream: row.stream,
              revision: cur.next,
              message:
                revision - cur.next === 1n
                  ? `stream ${row.stream}: revision ${cur.next} is missing (between positions ${cur.prevPosition} and ${position})`
                  : `stream ${row.stream}: revisions ${cur.next}..${revision - 1n} are missing (between positions ${cur.prevPosition} and ${position})`,
            },
            position,
          );
          if (entry && revision - cur.next === 1n) entry.gap = { lo: cur.prevPosition, hi: position };
          chainKnown = false; // the missing event's hash is unknown: resume the chain at this row
        }
        if (chainKnown) {
          const expected = eventHash(
            cur.prevHash,
            canonicalEventJson({
              stream: row.stream,
              streamRevision: revision,
              eventId: row.event_id,
              type: row.type,
              data: row.data,
              metadata: row.metadata,
            }),
          );
          if (!expected.equals(row.hash)) {
            report({
              kind: 'modified',
              stream: row.stream,
              revision,
              position,
              message: `stream ${row.stream} revision ${revision} (position ${position}): content or hash was changed (hash chain broken)`,
            });
          }
        }
        if (position <= cur.prevPosition) {
          report({
            kind: 'reordered',
            stream: row.stream,
            revision,
            position,
            message: `stream ${row.stream} revision ${revision} is at position ${position}, not after revision ${revision - 1n} at ${cur.prevPosition}`,
          });
        }
        cur.next = revision + 1n;
        cur.prevHash = row.hash; // continue from the stored hash so one change is reported once
        cur.prevPosition = position;
        after = [row.stream, row.revision];
      }
      options.onProgress?.({ phase: 'chains', eventsChecked, sealsChecked });
    }
    finishStream();

    const orphans = await client.query<HeadRow>(
      `select h.stream, h.revision, h.last_position, h.last_hash
         from ${s}.streams h where not exists (select 1 from ${s}.events e where e.stream = h.stream)
        order by h.last_position limit $1::bigint`,
      [String(maxProblems + 1)],
    );
    for (const h of orphans.rows) {
      streamsChecked++;
      report(
        {
          kind: 'missing',
          stream: h.stream,
          revision: 0n,
          message: `stream ${h.stream}: the head says revision ${h.revision} but all its events are gone`,
        },
        BigInt(h.last_position),
      );
    }

    // ---------------- pass 2: seals and global order ----------------
    const checkTransaction = (r: PositionRow): void => {
      const position = BigInt(r.position);
      if (position / POSITIONS_PER_TRANSACTION !== BigInt(r.transaction_id)) {
        report({
          kind: 'reordered',
          stream: r.stream,
          revision: BigInt(r.revision),
          position,
          message: `stream ${r.stream} revision ${r.revision}: position ${position} was not assigned by its transaction ${r.transaction_id} (moved)`,
        });
      }
    };
    const readRange = async (from: bigint, to: bigint | undefined, each: (r: PositionRow) => void): Promise<void> => {
      let cursor = from;
      for (;;) {
        const page = await client.query<PositionRow>(
          `select position, transaction_id::text as transaction_id, stream,
                  revision, hash
             from ${s}.events where position > $1::bigint and ($2::bigint is null or position <= $2::bigint)
            order by position limit $3::bigint`,
          [cursor.toString(), to === undefined ? null : to.toString(), String(batch)],
        );
        for (const r of page.rows) each(r);
        const last = page.rows[page.rows.length - 1];
        if (!last || page.rows.length < batch) return;
        cursor = BigInt(last.position);
      }
    };

    const anchors = new Map((options.anchors ?? []).map((a) => [a.sealId, a.hash.toLowerCase()]));
    let prevSeal: { id: bigint; to: bigint; hash: Buffer } = { id: 0n, to: 0n, hash: GENESIS_HASH };
    for (;;) {
      const sr = await client.query<SealRow>(
        `select seal_id, from_position, to_position,
                event_count, manifest, previous_hash, hash
           from ${s}.seals where seal_id > $1::bigint order by seal_id limit 1`,
        [prevSeal.id.toString()],
      );
      const seal = sr.rows[0];
      if (!seal) break;
      sealsChecked++;
      const id = BigInt(seal.seal_id);
      const from = BigInt(seal.from_position);
      const to = BigInt(seal.to_position);
      const sealProblem = (message: string): void => {
        report({ kind: 'seal_broken', sealId: id, message: `seal ${id} (positions ${from}..${to}): ${message}` }, from + 1n);
      };
      if (id !== prevSeal.id + 1n) sealProblem(`follows seal ${prevSeal.id}: seals ${prevSeal.id + 1n}..${id - 1n} are missing`);
      if (from !== prevSeal.to) sealProblem(`starts at position ${from}, but the previous seal ended at ${prevSeal.to}`);
      if (!seal.previous_hash.equals(prevSeal.hash)) sealProblem('does not chain to the previous seal');
      if (!sealHash(id, from, to, seal.previous_hash, seal.manifest).equals(seal.hash)) {
        sealProblem('its hash does not match its range and manifest (the seal was altered)');
      }
      const anchor = anchors.get(id);
      if (anchor !== undefined && anchor !== seal.hash.toString('hex')) sealProblem(`differs from the anchored hash ${anchor}`);
      if (seal.manifest.length !== seal.event_count * MANIFEST_ENTRY_BYTES) sealProblem('event count and manifest disagree');

      // merge the manifest with the events now in (from, to]
      const sealed = [...manifestEntries(seal.manifest)];
      const sealedByHash = new Map(sealed.map((e) => [e.hash.toString('hex'), e.position]));
      const rows: PositionRow[] = [];
      await readRange(from, to, (r) => {
        checkTransaction(r);
        rows.push(r);
      });
      const rowHashes = new Set(rows.map((r) => r.hash.toString('hex')));
      let i = 0;
      let j = 0;
      while (i < sealed.length || j < rows.length) {
        const m = sealed[i];
        const r = rows[j];
        const rp = r ? BigInt(r.position) : undefined;
        if (m && r && rp === m.position) {
          if (!r.hash.equals(m.hash)) {
            const movedFrom = sealedByHash.get(r.hash.toString('hex'));
            report({
              kind: movedFrom !== undefined ? 'reordered' : 'modified',
              stream: r.stream,
              revision: BigInt(r.revision),
              position: rp,
              sealId: id,
              message:
                movedFrom !== undefined
                  ? `stream ${r.stream} revision ${r.revision} sits at position ${rp} but was sealed at position ${movedFrom}`
                  : `stream ${r.stream} revision ${r.revision} (position ${rp}) differs from the event sealed there`,
            });
          }
          i++;
          j++;
        } else if (m && (rp === undefined || m.position < rp)) {
          if (!rowHashes.has(m.hash.toString('hex'))) {
            report({
              kind: 'missing',
              position: m.position,
              sealId: id,
              message: `the event sealed at position ${m.position} (hash ${m.hash.toString('hex').slice(0, 16)}…) is gone`,
            });
          } // else: it moved; reported where it is now
          i++;
        } else if (r && rp !== undefined) {
          const movedFrom = sealedByHash.get(r.hash.toString('hex'));
          report({
            kind: movedFrom !== undefined ? 'reordered' : 'inserted',
            stream: r.stream,
            revision: BigInt(r.revision),
            position: rp,
            sealId: id,
            message:
              movedFrom !== undefined
                ? `stream ${r.stream} revision ${r.revision} sits at position ${rp} but was sealed at position ${movedFrom}`
                : `stream ${r.stream} revision ${r.revision} at position ${rp} is not in seal ${id}: inserted`,
          });
          j++;
        } else {
          break;
        }
      }
      options.onProgress?.({ phase: 'seals', eventsChecked, sealsChecked });
      prevSeal = { id, to, hash: seal.hash };
      lastSeal = { sealId: id, toPosition: to, hash: seal.hash.toString('hex') };
    }
    for (const [sealId, hash] of anchors) {
      if (sealId > prevSeal.id) {
        report({ kind: 'seal_broken', sealId, message: `anchored seal ${sealId} (${hash}) is gone` });
      }
    }
    await readRange(prevSeal.to, undefined, (r) => {
      unsealedEvents++;
      checkTransaction(r);
    });
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }

  // A sealed event that is gone (pass 2 knows its position) and a gap in a stream (pass 1 knows
  // its stream and revision) are usually the same event: report it once, fully named.
  for (const e of problems) {
    if (e.p.kind !== 'missing' || e.p.stream !== undefined || e.p.position === undefined) continue;
    const pos = e.p.position;
    const twin = problems.find(
      (o) =>
        o !== e &&
        !o.dropped &&
        o.p.kind === 'missing' &&
        o.p.stream !== undefined &&
        ((o.gap && o.gap.lo < pos && pos < o.gap.hi && o.p.position === undefined) || o.p.position === pos),
    );
    if (twin) {
      twin.p = { ...twin.p, position: pos, sealId: e.p.sealId, message: `${twin.p.message}; it was sealed at position ${pos}` };
      twin.key = pos;
      twin.gap = undefined;
      e.dropped = true;
    }
  }
  const sorted = problems.filter((e) => !e.dropped).sort((a, b) => {
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
    eventsChecked,
    streamsChecked,
    sealsChecked,
    unsealedEvents,
    lastSeal,
  };
}
