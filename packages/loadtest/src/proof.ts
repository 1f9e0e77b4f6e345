/**
 * The proof after a run: `tradectl verify` (hash chains and seals), `tradectl diff` (the live read
 * models equal a fresh replay of the log), the reconciliation SQL (reconcile.ts), and the
 * generator's own count of accepted commands against the requests in the log (nothing answered
 * 202 is missing, nothing appears that was not answered 202).
 */
import pg from 'pg';
import { memoryIo, run as tradectl } from '@tradecore/tradectl';
import { reconcile, type Check, type Reconciliation } from './reconcile.ts';
import type { Kind } from './protocol.ts';

export interface ToolRun {
  command: string;
  exitCode: number;
  ok: boolean;
  seconds: number;
  /** Parsed JSON output when there is some, else the text. */
  output: unknown;
  stderr: string;
}

export interface Proof {
  ok: boolean;
  verify: ToolRun;
  diff: ToolRun;
  reconciliation: Reconciliation;
  completeness: Check[];
}

async function runTool(argv: string[]): Promise<ToolRun> {
  const io = memoryIo({});
  const started = performance.now();
  const exitCode = await tradectl(argv, io);
  const text = io.out().trim();
  let output: unknown = text;
  try {
    output = text ? (JSON.parse(text.split('\n').pop()!) as unknown) : null;
  } catch {
    output = text.slice(0, 4000);
  }
  return {
    command: `tradectl ${argv.map((a) => (a.startsWith('postgres') ? '<db>' : a)).join(' ')}`,
    exitCode,
    ok: exitCode === 0,
    seconds: Math.round((performance.now() - started) / 100) / 10,
    output,
    stderr: io.err().slice(-4000),
  };
}

export async function completeness(db: Pick<pg.Pool, 'query'>, userIds: readonly number[], accepted: Record<Kind, number> & { drainCancels: number }): Promise<Check[]> {
  const r = await db.query<{ type: string; n: number }>(
    `select type, count(*)::int as n from event_store.events
     where type in ('OrderPlaced', 'OrderAmendRequested', 'OrderCancelRequested') and (data->>'userId')::int = any($1::int[])
     group by type`,
    [[...userIds]],
  );
  const n = (t: string) => r.rows.find((x) => x.type === t)?.n ?? 0;
  const line = (name: string, events: number, answered: number): Check => ({
    name,
    ok: events === answered,
    detail: `${answered} answered 202, ${events} in the log`,
  });
  return [
    line('every placed order (202) is in the log', n('OrderPlaced'), accepted.place),
    line('every amend (202) is in the log', n('OrderAmendRequested'), accepted.amend),
    line('every cancel (202) is in the log', n('OrderCancelRequested'), accepted.cancel + accepted.drainCancels),
  ];
}

export async function prove(databaseUrl: string, opts: { userIds: readonly number[]; accepted: Record<Kind, number> & { drainCancels: number }; expectNoOpenOrders: boolean }): Promise<Proof> {
  const verify = await runTool(['verify', '--url', databaseUrl, '--format', 'json', '--no-progress']);
  const diff = await runTool(['diff', '--url', databaseUrl, '--format', 'json', '--no-progress']);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  try {
    await pool.query(`set statement_timeout = 0`);
    const reconciliation = await reconcile(pool, { userIds: opts.userIds, expectNoOpenOrders: opts.expectNoOpenOrders });
    const complete = await completeness(pool, opts.userIds, opts.accepted);
    return { ok: verify.ok && diff.ok && reconciliation.ok && complete.every((c) => c.ok), verify, diff, reconciliation, completeness: complete };
  } finally {
    await pool.end();
  }
}
