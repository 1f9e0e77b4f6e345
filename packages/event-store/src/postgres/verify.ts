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
 * Both passes read one REPEATABLE READ snapshot (a consistent cut, while appends go on). For speed
 * (a million events in seconds, not minutes):
 * - pass 1 first reads the events in position order, which costs PostgreSQL half as much, and only
 *   decides whether every chain and head is intact (verify-position.ts); when anything is not, the
 *   stream-order walk below runs and names the problems, so reports do not depend on it;
 * - that walk is split into ranges of stream names, each read by its own connection in the same
 *   snapshot (pg_export_snapshot) as one streamed binary COPY, and hashed without building
 *   JavaScript objects per event (verify-chains.ts, jsonb-canonical.ts);
 * - the position walk's parts after the first are read by worker threads (verify-threads.ts), each
 *   on its own connection in the same snapshot, so node's hashing uses more than one core;
 * - the position walk also hashes, per seal, the (be64 position ‖ hash) bytes of the events in the
 *   seal's range and checks every position's transaction, so pass 2, which runs meanwhile on the
 *   first connection and reads only the seals, compares digests instead of reading the events
 *   again; a range whose digest differs (or any range, when the walk found something) is compared
 *   by PostgreSQL and, if it differs, merged row by row.
 * Memory stays bounded: one network read per range, every stream's last state for the position
 * walk (or one stream's per range for the stream-order walk), a few seals' manifests.
 * The checks and the problems they name are those of the sequential page-by-page walk this
 * replaced: problems are collected per range and concatenated in stream order, then pass 2's, so
 * "first problem", the order of problems and truncation do not depend on which connection
 * finished first.
 */
import { hash as sha256Once } from 'node:crypto';
import type pg from 'pg';
import { GENESIS_HASH, manifestEntries, MANIFEST_ENTRY_BYTES, sealHash } from '../hash.ts';
import { copyOut, CopyRows } from './copy-out.ts';
import { assertSchemaName, POSITIONS_PER_TRANSACTION, quoteIdent } from './schema.ts';
import type { PostgresLogSource } from './sealer.ts';
import { ChainScanner, chainCopySql, type Reporter } from './verify-chains.ts';
import { HeadCheck, headsCopySql, joinParts, scanPart, type PartJob, type PartResult } from './verify-position.ts';
import { PartThread, threadConnectionConfig } from './verify-threads.ts';

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
  /** Rows per query where events are read page by page (pass 2 on a damaged range), and events between progress calls. Default 2000. */
  batchSize?: number;
  /**
   * Connections reading pass 1 at once (all in the same snapshot), besides the one running pass 2
   * meanwhile; at most the pool's size minus one. With a pool of one connection both passes run
   * one after the other on it. The position walk (chainOrder) reads this many parts of the
   * position range, default 2 (its PostgreSQL CPU per event is about half node's, so two backends
   * keep one node thread busy). The stream-order walk reads this many ranges of streams, default 1:
   * there the hashing (one thread) costs about as much CPU per event as one backend, so on a 2-core
   * machine more ranges only add backend CPU (measured: 1M events, same wall time with 1, 2 or 3
   * ranges; 15 vs 18 vs 21 µs of CPU per event). More pays where PostgreSQL runs on more cores.
   */
  parallelism?: number;
  /**
   * How pass 1 reads the chains. 'position' (default): first in global position order, which
   * costs PostgreSQL half as much (verify-position.ts); it only decides that every chain and head
   * is intact, and when anything is not, the stream-order walk runs and names the problems, so the
   * report is the same either way. 'stream': the stream-order walk only.
   */
  chainOrder?: 'position' | 'stream';
  /**
   * Whether the position walk reads its parts after the first on worker threads, each on its own
   * connection in the same snapshot (verify-threads.ts), so that node's hashing runs on more than
   * one core. 'auto' (default): for logs of 100,000 events or more, when the pool's connection
   * settings can be handed to a thread. A part whose thread cannot start is read here. 'all': the
   * first part too, leaving this thread the seals, the heads and the joins.
   */
  workerThreads?: boolean | 'auto' | 'all';
  /** Stop collecting after this many problems. Default 100. */
  maxProblems?: number;
  /** Seal hashes kept outside the database (e.g. printed by an earlier audit): each must still match. */
  anchors?: readonly { sealId: bigint; hash: string }[];
  /** Progress for a CLI: 'chains' every batchSize events of pass 1, then 'seals' after every seal. */
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

interface Entry {
  p: LogProblem;
  key: bigint | undefined;
  n: number;
  /** pass 1 gap of exactly one revision, between these positions (exclusive) */
  gap?: { lo: bigint; hi: bigint } | undefined;
  dropped?: boolean;
}

/**
 * Problems of one part of the walk in the order found, at most `cap`. The parts are concatenated
 * in the order of a sequential walk and capped again, which keeps exactly the problems one
 * sequential walk would have kept.
 */
class ProblemList {
  readonly entries: Entry[] = [];
  truncated = false;
  constructor(private readonly cap: number) {}
  readonly report: Reporter = (p, sortKey) => {
    if (this.entries.length >= this.cap) {
      this.truncated = true;
      return undefined;
    }
    const e: Entry = { p, key: sortKey ?? p.position, n: 0 };
    this.entries.push(e);
    return e;
  };
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
  const poolMax = (pool as { options?: { max?: number } }).options?.max ?? 10;
  const parallelism = Math.max(1, Math.min(Math.floor(options.parallelism ?? 1), poolMax - 1));
  const POS = POSITIONS_PER_TRANSACTION.toString();

  let eventsChecked = 0;
  let streamsChecked = 0;
  let sealsChecked = 0;
  let unsealedEvents = 0;
  let lastSeal: VerifyReport['lastSeal'];

  let chainLists: ProblemList[] = [];
  const orphanList = new ProblemList(maxProblems);
  const sealList = new ProblemList(maxProblems);

  const client = await pool.connect();
  const readers: pg.PoolClient[] = [];
  let threadStarts: Promise<PartThread | undefined>[] = [];
  try {
    await client.query('begin isolation level repeatable read read only');
    // these are long scans of simple expressions: compiling them (JIT) costs more than it saves
    await client.query('set local jit = off');

    // ---------------- pass 1: per-stream chains, in ranges of stream names ----------------
    // Ranges of about equal event counts (by the heads' revisions), cut at stream names in the
    // database's own order, so that the ranges' rows concatenated are the (stream, revision) order.
    const heads = await client.query<{ n: string; events: string }>(
      `select count(*)::text as n, coalesce(sum(greatest(revision, 0) + 1), 0)::text as events from ${s}.streams`,
    );
    const headCount = BigInt(heads.rows[0]?.n ?? '0');
    const totalEvents = Number(heads.rows[0]?.events ?? '0');
    const byPosition = (options.chainOrder ?? 'position') === 'position';
    // the position walk: parts of about equal event counts, cut at seal boundaries
    const positionParts = byPosition ? Math.max(1, Math.min(Math.floor(options.parallelism ?? 2), poolMax - 1)) : 0;
    const wantThreads = options.workerThreads ?? 'auto';
    const threadConfig =
      positionParts > 1 && (wantThreads === true || wantThreads === 'all' || (wantThreads === 'auto' && totalEvents >= 100_000)) ? threadConnectionConfig(pool) : undefined;
    // the first part on this thread too, unless every part gets one ('all')
    const threadedFirst = wantThreads === 'all' ? 0 : 1;
    // started now, so that loading their code overlaps the queries below
    threadStarts = threadConfig ? Array.from({ length: positionParts - threadedFirst }, () => PartThread.start()) : [];
    const positionBounds: bigint[] = [];
    /** every seal's range end when the seals tile the log from position 0 (what the walk's seal digests assume) */
    let sealEnds: number[] | undefined;
    if (byPosition) {
      const seals = await client.query<{ seal_id: string; from_position: string; to_position: string; n: string }>(
        // ordered by the table's seal_id: a bare `seal_id` would be the text column below
        `select s.seal_id::text as seal_id, s.from_position::text as from_position, s.to_position::text as to_position,
                (sum(s.event_count) over (order by s.seal_id))::text as n
           from ${s}.seals s order by s.seal_id`,
      );
      sealEnds = [];
      let id = 0;
      let to = 0;
      for (const r of seals.rows) {
        const from = Number(r.from_position);
        const end = Number(r.to_position);
        if (Number(r.seal_id) !== ++id || from !== to || !(end > from) || !Number.isSafeInteger(end)) {
          sealEnds = undefined; // pass 2 reads these ranges itself and names what is wrong
          break;
        }
        sealEnds.push(end);
        to = end;
      }
      // With threads, this thread's part (the first) is a little smaller: the seal pass and the
      // node-postgres framing of its own part run here too (measured on the 1M-event log: the
      // first of two equal parts finished ~10 % after the thread's)
      const firstWeight = threadConfig && wantThreads !== 'all' ? 0.85 : 1;
      for (let k = 1; k < positionParts; k++) {
        const want = (totalEvents * (firstWeight + k - 1)) / (firstWeight + positionParts - 1);
        let best: { to_position: string; n: string } | undefined;
        for (const r of seals.rows) if (!best || Math.abs(Number(r.n) - want) < Math.abs(Number(best.n) - want)) best = r;
        const at = best ? BigInt(best.to_position) : undefined;
        if (at !== undefined && (positionBounds.length === 0 || at > (positionBounds[positionBounds.length - 1] as bigint))) positionBounds.push(at);
      }
    }
    const bounds =
      parallelism < 2
        ? []
        : (
            await client.query<{ bound: string }>(
              `select min(stream) as bound from (
                 select stream, floor((sum(w) over (order by stream rows unbounded preceding) - w) * $1::int / sum(w) over ()) as part
                   from (select stream, greatest(revision, 0) + 1 as w from ${s}.streams) x) y
                where part > 0 group by part order by part`,
              [parallelism],
            )
          ).rows.map((r) => r.bound);
    const ranges: { from: string | undefined; to: string | undefined }[] = [];
    for (let k = 0; k <= bounds.length; k++) ranges.push({ from: bounds[k - 1], to: bounds[k] });

    // an index scan in (stream, revision) order: sorting a whole range would spill to disk
    const planFor = async (c: pg.ClientBase): Promise<void> => {
      await c.query('set local enable_sort = off');
      await c.query('set local enable_hashjoin = off');
      await c.query('set local jit = off');
    };
    let snapshot = '';
    if (poolMax > 1) {
      snapshot = (await client.query<{ id: string }>('select pg_export_snapshot() as id')).rows[0]?.id ?? '';
      for (let k = 0; k < Math.max(ranges.length, positionBounds.length + 1); k++) {
        const r = await pool.connect();
        readers.push(r);
        await r.query('begin isolation level repeatable read read only');
        await r.query(`set transaction snapshot '${snapshot.replace(/'/g, "''")}'`);
        await planFor(r);
      }
    } else {
      await planFor(client);
    }

    let chainsDone = false;
    let sealProgressPending = false;
    const progress = (phase: 'chains' | 'seals'): void => {
      options.onProgress?.({ phase, eventsChecked, sealsChecked });
    };
    chainLists = ranges.map(() => new ProblemList(maxProblems));
    let streamsWithHead = 0n;
    const readChains = async (k: number, reader: pg.ClientBase): Promise<void> => {
      const list = chainLists[k] as ProblemList;
      const range = ranges[k] as { from: string | undefined; to: string | undefined };
      const scanner = new ChainScanner(list.report);
      let counted = 0;
      let sinceProgress = 0;
      await copyOut(reader, chainCopySql(s, range.from, range.to), (chunk) => {
        scanner.push(chunk);
        const delta = scanner.eventsChecked - counted;
        counted = scanner.eventsChecked;
        eventsChecked += delta;
        sinceProgress += delta;
        if (sinceProgress >= batch) {
          sinceProgress = 0;
          progress('chains');
        }
      });
      scanner.finish();
      streamsChecked += scanner.streamsChecked;
      streamsWithHead += BigInt(scanner.streamsWithHead);
    };
    /**
     * The position walk (verify-position.ts): the parts' outcomes when every chain and head is
     * intact, with eventsChecked and streamsChecked set as the stream-order walk would; undefined
     * (counts reset) when anything is not, and the stream-order walk must name it.
     */
    const chainsByPosition = async (): Promise<PartResult[] | undefined> => {
      const conns = readers.length > 0 ? readers : [client];
      const threads = await Promise.all(threadStarts);
      const partCount = Math.min(positionBounds.length + 1, conns.length);
      for (const t of threads.splice(partCount - threadedFirst)) t?.dispose();
      let failed = false;
      let sinceProgress = 0;
      const counted = (delta: number, anomaly: boolean): void => {
        eventsChecked += delta;
        sinceProgress += delta;
        if (anomaly && !failed) {
          failed = true;
          for (const t of threads) t?.stop();
        }
        if (sinceProgress >= batch) {
          sinceProgress = 0;
          progress('chains');
        }
      };
      const parts = await Promise.all(
        Array.from({ length: partCount }, async (_, k): Promise<PartResult> => {
          const after = positionBounds[k - 1];
          const upTo = k === partCount - 1 ? undefined : positionBounds[k];
          const job: PartJob = {
            schemaIdent: s,
            after,
            upTo,
            first: k === 0,
            sealEnds: (sealEnds ?? []).filter((end) => (after === undefined || end > after) && (upTo === undefined || end <= upTo)),
          };
          const thread = k < threadedFirst ? undefined : threads[k - threadedFirst];
          if (thread && threadConfig) {
            let reported = 0;
            try {
              return await thread.run(threadConfig, snapshot, job, batch, (n, anomaly) => {
                reported += n;
                counted(n, anomaly);
              });
            } catch {
              // e.g. no connection for the thread (max_connections): this part is read here, on
              // the reader the pool gave it, and whatever fails there fails verifyLog
              counted(-reported, false);
            }
          }
          // once a part found something the stream-order walk will run: the rest only drains
          return scanPart(conns[k] as pg.ClientBase, job, () => failed, counted);
        }),
      );
      if (!failed && parts.every((p) => p.anomaly === undefined) && joinParts(parts) === undefined) {
        const check = new HeadCheck(parts);
        await copyOut(conns[0] as pg.ClientBase, headsCopySql(s), (chunk) => check.rows.push(chunk));
        check.rows.finish();
        const started = parts.reduce((n, p) => n + p.streamsStarted, 0);
        if (check.anomaly === undefined && check.matched === check.heads && check.matched === started && BigInt(check.heads) === headCount) {
          streamsChecked += check.matched;
          streamsWithHead = headCount;
          return parts;
        }
      }
      eventsChecked = 0;
      return undefined;
    };
    /**
     * What the position walk saw of the seals' ranges (undefined when it did not run or found
     * something): per seal id the digest of its range's (be64 position ‖ hash) bytes, and the
     * number of events after the last seal. Every position was checked against its transaction.
     */
    let resolveWalkSeals: (seen: { digests: Map<bigint, Uint8Array>; tailEvents: number } | undefined) => void = () => undefined;
    const walkSeals = new Promise<{ digests: Map<bigint, Uint8Array>; tailEvents: number } | undefined>((resolve) => (resolveWalkSeals = resolve));
    const chains = async (): Promise<void> => {
      let parts: PartResult[] | undefined;
      try {
        parts = byPosition ? await chainsByPosition() : undefined;
      } finally {
        const ends = sealEnds;
        if (parts && ends) {
          const digests = new Map<bigint, Uint8Array>();
          let id = 0n;
          for (const p of parts) for (const d of p.sealDigests) digests.set(++id, d);
          resolveWalkSeals(id === BigInt(ends.length) ? { digests, tailEvents: parts.reduce((n, p) => n + p.tailEvents, 0) } : undefined);
        } else resolveWalkSeals(undefined);
      }
      if (parts) {
        progress('chains');
        chainsDone = true;
        if (sealProgressPending) progress('seals');
        return;
      }
      if (readers.length > 0) {
        const results = await Promise.allSettled(ranges.map((_, k) => readChains(k, readers[k] as pg.PoolClient)));
        for (const r of results) if (r.status === 'rejected') throw r.reason;
      } else for (let k = 0; k < ranges.length; k++) await readChains(k, client);
      progress('chains');
      chainsDone = true;
      if (sealProgressPending) progress('seals');
    };

    // Heads without any events. Every head matched by pass 1 belongs to one stream name (the
    // primary key), so when pass 1 matched as many heads as there are, none is left over and the
    // anti-join below is skipped.
    const orphans = async (): Promise<void> => {
      if (streamsWithHead === headCount) return;
      const rows = await client.query<HeadRow>(
        `select h.stream, h.revision, h.last_position, h.last_hash
           from ${s}.streams h where not exists (select 1 from ${s}.events e where e.stream = h.stream)
          order by h.last_position limit $1::bigint`,
        [String(maxProblems + 1)],
      );
      for (const h of rows.rows) {
        streamsChecked++;
        orphanList.report(
          {
            kind: 'missing',
            stream: h.stream,
            revision: 0n,
            message: `stream ${h.stream}: the head says revision ${h.revision} but all its events are gone`,
          },
          BigInt(h.last_position),
        );
      }
    };

    // ---------------- pass 2: seals and global order ----------------
    const report = sealList.report;
    const sealDone = (): void => {
      if (chainsDone) progress('seals');
      else sealProgressPending = true; // shown once pass 1 is done, so phases stay in order
    };
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
    /** The manifest merged with the events now in (from, to], row by row, naming every difference. */
    const mergeManifest = async (manifest: Buffer, id: bigint, from: bigint, to: bigint): Promise<void> => {
      const sealed = [...manifestEntries(manifest)];
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
    };
    const sealsPass = async (): Promise<void> => {
      const anchors = new Map((options.anchors ?? []).map((a) => [a.sealId, a.hash.toLowerCase()]));
      let prevSeal: { id: bigint; to: bigint; hash: Buffer } = { id: 0n, to: 0n, hash: GENESIS_HASH };
      /** seals read, their own problems held back until the walk's view of their ranges is known, so the order of problems stays per seal */
      const read: { id: bigint; from: bigint; to: bigint; manifestDigest: Buffer; found: [LogProblem, bigint][] }[] = [];
      // one binary COPY of all seals, each checked as its row arrives: bytea comes as raw bytes
      // (in a text result every manifest would be hex, twice its size, to decode)
      const sealRows = new CopyRows(7, (buf, f) => {
        for (let k = 1; k < 14; k += 2) if ((f[k] as number) < 0) throw new Error('verifyLog: NULL in a seal row');
        const id = buf.readBigInt64BE(f[0]);
        const from = buf.readBigInt64BE(f[2]);
        const to = buf.readBigInt64BE(f[4]);
        const eventCount = buf.readInt32BE(f[6]);
        const manifest = buf.subarray(f[8], f[9]);
        const previousHash = Buffer.from(buf.subarray(f[10], f[11]));
        const hash = Buffer.from(buf.subarray(f[12], f[13]));
        sealsChecked++;
        const found: [LogProblem, bigint][] = [];
        const sealProblem = (message: string): void => {
          found.push([{ kind: 'seal_broken', sealId: id, message: `seal ${id} (positions ${from}..${to}): ${message}` }, from + 1n]);
        };
        if (id !== prevSeal.id + 1n) sealProblem(`follows seal ${prevSeal.id}: seals ${prevSeal.id + 1n}..${id - 1n} are missing`);
        if (from !== prevSeal.to) sealProblem(`starts at position ${from}, but the previous seal ended at ${prevSeal.to}`);
        if (!previousHash.equals(prevSeal.hash)) sealProblem('does not chain to the previous seal');
        if (!sealHash(id, from, to, previousHash, manifest).equals(hash)) {
          sealProblem('its hash does not match its range and manifest (the seal was altered)');
        }
        const anchor = anchors.get(id);
        if (anchor !== undefined && anchor !== hash.toString('hex')) sealProblem(`differs from the anchored hash ${anchor}`);
        if (manifest.length !== eventCount * MANIFEST_ENTRY_BYTES) sealProblem('event count and manifest disagree');
        read.push({ id, from, to, manifestDigest: sha256Once('sha256', manifest, 'buffer'), found });
        sealDone();
        prevSeal = { id, to, hash };
        lastSeal = { sealId: id, toPosition: to, hash: hash.toString('hex') };
      });
      await copyOut(
        client,
        `copy (select seal_id, from_position, to_position, event_count, manifest, previous_hash, hash from ${s}.seals order by seal_id)
           to stdout (format binary)`,
        (chunk) => sealRows.push(chunk),
      );
      sealRows.finish();
      // Each seal's manifest against the events now in its range. When the position walk read an
      // untouched log, it hashed exactly these (be64 position ‖ hash) bytes per range and checked
      // every position's transaction: equal digests mean the merge would find nothing. Any other
      // range is compared by PostgreSQL, and merged row by row (naming every difference) if unequal.
      const seen = await walkSeals;
      for (const r of read) {
        for (const [problem, key] of r.found) report(problem, key);
        const walked = seen?.digests.get(r.id);
        if (walked !== undefined && r.manifestDigest.equals(walked)) continue;
        const check = await client.query<{ intact: boolean | null; manifest: Buffer }>(
          `select s.manifest,
                  (select coalesce(string_agg(int8send(e.position) || e.hash, ''::bytea order by e.position), ''::bytea) = s.manifest
                          and coalesce(bool_and(e.transaction_id::text = (e.position / ${POS})::text), true)
                     from ${s}.events e where e.position > s.from_position and e.position <= s.to_position) as intact
             from ${s}.seals s where s.seal_id = $1::bigint`,
          [r.id.toString()],
        );
        const row = check.rows[0];
        if (row && row.intact !== true) await mergeManifest(row.manifest, r.id, r.from, r.to);
      }
      for (const [sealId, hash] of anchors) {
        if (sealId > prevSeal.id) {
          report({ kind: 'seal_broken', sealId, message: `anchored seal ${sealId} (${hash}) is gone` });
        }
      }
      if (seen) {
        // the walk counted the events after the last seal and checked their transactions
        unsealedEvents = seen.tailEvents;
        return;
      }
      // the unsealed tail: counted, and read row by row only if some position left its transaction
      const tail = await client.query<{ n: string; ok: boolean }>(
        `select count(*)::text as n, coalesce(bool_and(transaction_id::text = (position / ${POS})::text), true) as ok
           from ${s}.events where position > $1::bigint`,
        [prevSeal.to.toString()],
      );
      if (tail.rows[0]?.ok === true) {
        unsealedEvents = Number(tail.rows[0].n);
      } else {
        await readRange(prevSeal.to, undefined, (r) => {
          unsealedEvents++;
          checkTransaction(r);
        });
      }
    };

    if (readers.length > 0) {
      // pass 2 on this connection while the readers do pass 1; wait for both even if one fails,
      // so that no query is still running on a connection when it goes back to the pool
      const results = await Promise.allSettled([chains(), sealsPass()]);
      for (const r of results) if (r.status === 'rejected') throw r.reason;
      await orphans();
    } else {
      await chains();
      await orphans();
      await sealsPass();
    }
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    // threads not used (a walk that ended early): their part never started
    for (const t of await Promise.all(threadStarts)) t?.dispose();
    for (const r of readers) {
      await r.query('rollback').then(
        () => r.release(),
        (err: unknown) => r.release(err instanceof Error ? err : true),
      );
    }
    client.release();
  }

  // the sequential walk's order: pass 1 ranges in stream order, heads without events, then pass 2
  const parts = [...chainLists, orphanList, sealList];
  const problems: Entry[] = [];
  let truncated = false;
  for (const part of parts) {
    truncated ||= part.truncated;
    for (const e of part.entries) {
      if (problems.length >= maxProblems) {
        truncated = true;
        break;
      }
      e.n = problems.length;
      problems.push(e);
    }
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
