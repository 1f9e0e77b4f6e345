/** `tradectl verify`: hash chains and seals, online (the event store's verifyLog) or of an export file. */
import { verifyLog } from '@tradecore/event-store';
import type { PostgresConnection } from '../connect.ts';
import { usage } from '../errors.ts';
import type { Output } from '../io.ts';
import type { Progress } from '../progress.ts';
import type { Problem } from './export.ts';

export interface AnyVerifyReport {
  ok: boolean;
  firstProblem?: Problem;
  problems: Problem[];
  truncated: boolean;
  eventsChecked: number;
  streamsChecked: number;
  sealsChecked: number;
  unsealedEvents?: number;
  lastSeal?: { sealId: bigint; toPosition: bigint; hash: string };
  digest?: string;
}

export function parseAnchor(value: string): { sealId: bigint; hash: string } {
  const m = /^(\d+):([0-9a-fA-F]{64})$/.exec(value.trim());
  if (!m?.[1] || !m[2]) throw usage(`--anchor: ${JSON.stringify(value)} is not <sealId>:<64 hex digits>`);
  return { sealId: BigInt(m[1]), hash: m[2].toLowerCase() };
}

export async function verifyOnline(
  conn: PostgresConnection,
  options: { anchors: { sealId: bigint; hash: string }[]; maxProblems: number; parallelism?: number; batchSize?: number; progress?: Progress },
): Promise<AnyVerifyReport> {
  const p = options.progress;
  let phase: 'chains' | 'seals' | undefined;
  let seals: number | undefined;
  if (p?.enabled) {
    const r = await conn.pool.query<{ n: string }>(`select count(*)::text as n from "${conn.schema}".seals`);
    seals = Number(r.rows[0]?.n ?? '0');
  }
  return verifyLog(conn.store, {
    anchors: options.anchors,
    maxProblems: options.maxProblems,
    parallelism: options.parallelism,
    batchSize: options.batchSize ?? 5000,
    onProgress: p?.enabled
      ? ({ phase: now, eventsChecked, sealsChecked }) => {
          if (now !== phase) {
            if (now === 'seals') p.phase('verify seals', seals);
            phase = now;
          }
          p.update(now === 'chains' ? eventsChecked : sealsChecked, true);
        }
      : undefined,
  });
}

function problemJson(p: Problem): Record<string, unknown> {
  return {
    kind: p.kind,
    stream: p.stream ?? null,
    revision: p.revision?.toString() ?? null,
    position: p.position?.toString() ?? null,
    sealId: p.sealId?.toString() ?? null,
    ...(p.line !== undefined ? { line: p.line } : {}),
    message: p.message,
  };
}

export function reportJson(r: AnyVerifyReport, source: string, seconds: number): Record<string, unknown> {
  return {
    ok: r.ok,
    source,
    eventsChecked: r.eventsChecked,
    streamsChecked: r.streamsChecked,
    sealsChecked: r.sealsChecked,
    unsealedEvents: r.unsealedEvents ?? null,
    lastSeal: r.lastSeal ? { sealId: r.lastSeal.sealId.toString(), toPosition: r.lastSeal.toPosition.toString(), hash: r.lastSeal.hash } : null,
    digest: r.digest ?? null,
    firstProblem: firstProblem(r) ? problemJson(firstProblem(r) as Problem) : null,
    problems: r.problems.map(problemJson),
    truncated: r.truncated,
    seconds,
    eventsPerSecond: Math.round(r.eventsChecked / Math.max(seconds, 1e-9)),
  };
}

const SPECIFICITY: readonly Problem['kind'][] = ['reordered', 'missing', 'inserted', 'modified', 'truncated', 'head_mismatch', 'seal_broken'];

/**
 * The problem to name first: the lowest position, and at that position the most telling kind
 * (a moved row also breaks its stream head and its hash: "reordered" explains the others).
 */
export function firstProblem(r: AnyVerifyReport): Problem | undefined {
  const first = r.problems[0] ?? r.firstProblem;
  if (!first || first.position === undefined) return first;
  const same = r.problems.filter((p) => p.position === first.position || (p.stream !== undefined && p.stream === first.stream && p.revision === first.revision));
  return same.sort((a, b) => SPECIFICITY.indexOf(a.kind) - SPECIFICITY.indexOf(b.kind))[0] ?? first;
}

export function writeReportText(out: Output, r: AnyVerifyReport, source: string, seconds: number): void {
  const rate = Math.round(r.eventsChecked / Math.max(seconds, 1e-9)).toLocaleString('en-US');
  if (r.ok) {
    out.line(`OK: ${source} verifies.`);
  } else {
    const p = firstProblem(r);
    out.line(`FAILED: ${source} does not verify.`);
    if (p) {
      const where = [p.stream ? `stream ${p.stream}` : '', p.revision !== undefined ? `revision ${p.revision}` : '', p.position !== undefined ? `position ${p.position}` : '', p.sealId !== undefined ? `seal ${p.sealId}` : '', p.line !== undefined ? `line ${p.line}` : '']
        .filter(Boolean)
        .join(', ');
      out.line(`First problem: ${p.kind.toUpperCase()} event${where ? ` (${where})` : ''}`);
      out.line(`  ${p.message}`);
    }
    if (r.problems.length > 1) {
      out.line(`All problems (${r.problems.length}${r.truncated ? '+, truncated' : ''}), by position:`);
      for (const q of r.problems) out.line(`  - ${q.kind}: ${q.message}`);
    }
  }
  out.line(`Checked ${r.eventsChecked.toLocaleString('en-US')} events in ${r.streamsChecked.toLocaleString('en-US')} streams and ${r.sealsChecked} seals in ${seconds.toFixed(2)}s (${rate} events/s).`);
  if (r.unsealedEvents !== undefined) out.line(`Events after the last seal (covered by their stream chains only): ${r.unsealedEvents.toLocaleString('en-US')}.`);
  if (r.lastSeal) out.line(`Last seal: ${r.lastSeal.sealId} up to position ${r.lastSeal.toPosition}, hash ${r.lastSeal.hash} (keep it: pass it later as --anchor ${r.lastSeal.sealId}:${r.lastSeal.hash})`);
  if (r.digest) out.line(`File digest: ${r.digest}`);
}
