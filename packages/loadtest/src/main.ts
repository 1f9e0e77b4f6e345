/**
 * `pnpm loadtest`: starts Tradecore (single-node, or the full path through the relay and a real
 * Kafka) on a fresh database — or uses `--url` — forks the load generator as a second process,
 * samples both processes (and PostgreSQL, and Kafka), waits for the read models to settle, stops
 * the server, proves nothing was lost (tradectl verify + diff, reconciliation SQL, the
 * generator's counts against the log), and writes a report, a chart and a JSON record.
 * Exit 0 only when the proof passed.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { PidSetCpu, createTestDatabase, describeMachineSpeed, measureMachineSpeed, createTestDatabaseOn, getKafka, kafkaAnswers, localKafkaBrokerPid, machineCpuMs, pssBytes, sampleProcess, type TestDatabase, type TestKafka } from '@tradecore/testkit';
import { assertLoopback } from './http.ts';
import { summarizeProfile, type CpuProfile, type ProfileSummary } from './profile.ts';
import { loadAverage, machineInfo } from './proc.ts';
import { prove, type Proof } from './proof.ts';
import { startPrivatePostgres, type PrivatePostgres } from './private-postgres.ts';
import type { DoneMessage, GeneratorMessage, GeneratorPlan, Window } from './protocol.ts';
import { DEFAULT_CRITERIA, rampSchedule, soakSchedule, type PeakCriteria, type Step } from './ramp.ts';
import { GOALS, gcPausesOf, statementsMarkdown, type StatementStat, chartOf, cpuBreakdown, heapFloor, serverMetricsOf, type ScrapedMetrics, markdownReport, memoryTrend, overallOf, seriesOf, stepRows, textReport, withStepSteal, type ResourceSample, type RunReport, scansDuring, type TableScans } from './report.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(here, '../../..');
const SERVER_MAIN = join(REPO_ROOT, 'packages/server/src/main.ts');
const GENERATOR_MAIN = join(here, 'generator-main.ts');

export interface LoadtestOptions {
  mode: 'single-node' | 'full';
  kind: 'ramp' | 'soak';
  seconds: number;
  from: number;
  to: number;
  steps: number;
  shape: 'geometric' | 'linear';
  stopAfterFailures: number;
  rate?: number;
  traders: number;
  markets: number;
  seed: string;
  url?: string;
  databaseUrl?: string;
  admin: { username: string; password: string };
  lagSample: number;
  lagPollMs: number;
  lagTimeoutMs: number;
  lagMaxProbes: number;
  lagSource: GeneratorPlan['lagSource'];
  maxInflight: number;
  connections: number;
  cpuProf: boolean;
  /** The server's young-generation semi-space (node --max-semi-space-size), MiB. */
  semiSpaceMiB: number;
  logLevel: string;
  out?: string;
  name?: string;
  keepDb: boolean;
  /** shared: a fresh database on 127.0.0.1:5432; private: a cluster of the run's own. */
  postgres: 'shared' | 'private';
  drain: boolean;
  criteria: PeakCriteria;
  settleTimeoutS: number;
  quiet: boolean;
  /** With --postgres private: pg_stat_statements over the load phase, written to statements.md. */
  pgStatements: boolean;
  /** With a private cluster: the server connects through its Unix-domain socket, not TCP. */
  pgSocket: boolean;
}

const USAGE = `pnpm loadtest [options]

  --mode single-node|full   single-node: in-process fan-out; full: relay + Kafka (127.0.0.1:9092)
  --ramp <s>                ramp the offered rate stepwise for <s> seconds (default: --ramp 60)
  --from <n> --to <n>       ramp from/to commands per second (default 20 → 3000)
  --steps <n>               ramp steps (default 12), --shape geometric|linear (default geometric)
  --stop-after <n>          end the ramp after n failing steps in a row (default 2; 0: never)
  --soak <s> --rate <n>     hold <n> commands/s for <s> seconds
  --peak-from <report.json> with --soak: rate = --rate-fraction (0.7) × the peak in that ramp report
  --traders <n>             simulated traders (default 200), --markets <n> (default 4), --seed <s>
  --url <http://127.0.0.1:port> --database-url <postgres://...> --admin-username --admin-password
                            use a running Tradecore (loopback only) instead of starting one
  --lag-sample <f>|auto     fraction of placed orders whose read-model lag is measured (auto: 0.01
                            polling GET /api/v1/orders/:id, 0.05 polling the read model in SQL)
  --lag-poll-ms <ms>        first poll interval for the lag (10; then 25, 50, 100 ms as it grows)
  --lag-max-probes <n>      http: at most n orders watched at once (16), --lag-source auto|http|db|off
  --max-inflight <n>        (256), --connections <n> keep-alive sockets (64)
  --cpu-prof                profile the server process (node --cpu-prof) and summarise it
  --semi-space <MiB>        the server's node --max-semi-space-size (32, as \`pnpm start\` runs it)
  --log-level <level>       server LOG_LEVEL (default warn)
  --p99-bound <ms> --lag-bound <ms>   peak criteria (100, 1000)
  --out <dir> --name <name> where the report goes (default packages/loadtest/results/<name>)
  --postgres shared|private shared: a fresh database on 127.0.0.1:5432 (default); private: a PostgreSQL
                            cluster of the run's own from the machine's binaries (durable defaults), so
                            other databases' open transactions cannot stall the run's global readers
  --keep-db                 keep the run's database (and private cluster) for inspection; by default
                            it is dropped after the proof (the report keeps examples of any failure)
  --no-drain                do not cancel the traders' remaining orders at the end
  --pg-statements           with --postgres private: load the cluster with pg_stat_statements and write
                            the load phase's statements (calls and time per command) to statements.md
  --pg-socket               with --postgres private: the server connects to PostgreSQL through the
                            cluster's Unix-domain socket instead of TCP on loopback
`;

export function parseOptions(argv: readonly string[]): LoadtestOptions {
  const { values } = parseArgs({
    args: [...argv],
    allowPositionals: false,
    options: {
      mode: { type: 'string', default: 'single-node' },
      ramp: { type: 'string' },
      soak: { type: 'string' },
      from: { type: 'string', default: '20' },
      to: { type: 'string', default: '3000' },
      steps: { type: 'string', default: '12' },
      shape: { type: 'string', default: 'geometric' },
      'stop-after': { type: 'string', default: '2' },
      rate: { type: 'string' },
      'peak-from': { type: 'string' },
      'rate-fraction': { type: 'string', default: '0.7' },
      traders: { type: 'string', default: '200' },
      markets: { type: 'string', default: '4' },
      seed: { type: 'string', default: 'tradecore-loadtest' },
      url: { type: 'string' },
      'database-url': { type: 'string' },
      'admin-username': { type: 'string', default: 'admin' },
      'admin-password': { type: 'string' },
      'lag-sample': { type: 'string', default: 'auto' },
      'lag-poll-ms': { type: 'string', default: '10' },
      'lag-timeout-ms': { type: 'string', default: '30000' },
      'lag-max-probes': { type: 'string', default: '16' },
      'lag-source': { type: 'string', default: 'auto' },
      'max-inflight': { type: 'string', default: '256' },
      connections: { type: 'string', default: '64' },
      'cpu-prof': { type: 'boolean', default: false },
      'semi-space': { type: 'string', default: '32' },
      'log-level': { type: 'string', default: 'warn' },
      'p99-bound': { type: 'string', default: String(DEFAULT_CRITERIA.maxP99Ms) },
      'lag-bound': { type: 'string', default: String(DEFAULT_CRITERIA.maxLagP99Ms) },
      'settle-timeout': { type: 'string', default: '300' },
      out: { type: 'string' },
      name: { type: 'string' },
      'keep-db': { type: 'boolean', default: false },
      postgres: { type: 'string', default: 'shared' },
      'no-drain': { type: 'boolean', default: false },
      'pg-statements': { type: 'boolean', default: false },
      'pg-socket': { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) throw new UsageError(USAGE);
  const num = (name: string, v: string | undefined, min = 0): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min) throw new UsageError(`--${name}: expected a number ≥ ${min}, got ${JSON.stringify(v)}\n\n${USAGE}`);
    return n;
  };
  const mode = values.mode;
  if (mode !== 'single-node' && mode !== 'full') throw new UsageError(`--mode: single-node or full\n\n${USAGE}`);
  if (values.ramp !== undefined && values.soak !== undefined) throw new UsageError('--ramp and --soak: one or the other');
  const kind = values.soak !== undefined ? 'soak' : 'ramp';
  const seconds = num(kind, values.soak ?? values.ramp ?? '60', 1);
  let rate = values.rate !== undefined ? num('rate', values.rate, 1) : undefined;
  if (kind === 'soak' && rate === undefined) {
    if (!values['peak-from']) throw new UsageError('--soak needs --rate <n> or --peak-from <ramp report.json>');
    const ramp = JSON.parse(readFileSync(values['peak-from'], 'utf8')) as RunReport;
    if (!ramp.peak || ramp.peak.index < 0) throw new UsageError(`${values['peak-from']}: that ramp found no peak`);
    rate = Math.max(1, Math.round(ramp.peak.rate * num('rate-fraction', values['rate-fraction'], 0.01)));
  }
  const lagSource = values['lag-source'];
  if (!['auto', 'http', 'db', 'off'].includes(lagSource)) throw new UsageError('--lag-source: auto, http, db or off');
  if (values.url) assertLoopback(values.url);
  if (values['pg-socket'] && values.postgres !== 'private') throw new UsageError('--pg-socket needs --postgres private');
  return {
    mode,
    kind,
    seconds,
    from: num('from', values.from, 1),
    to: num('to', values.to, 1),
    steps: num('steps', values.steps, 1),
    shape: values.shape === 'linear' ? 'linear' : values.shape === 'geometric' ? 'geometric' : usage('--shape: geometric or linear'),
    stopAfterFailures: num('stop-after', values['stop-after'], 0),
    rate,
    traders: num('traders', values.traders, 2),
    markets: num('markets', values.markets, 1),
    seed: values.seed,
    url: values.url,
    databaseUrl: values['database-url'] ?? (values.url ? process.env.DATABASE_URL : undefined),
    admin: { username: values['admin-username'], password: values['admin-password'] ?? (values.url ? (process.env.ADMIN_PASSWORD ?? '') : `lt-${randomBytes(12).toString('hex')}`) },
    lagSample: values['lag-sample'] === 'auto' ? -1 : num('lag-sample', values['lag-sample']),
    lagPollMs: num('lag-poll-ms', values['lag-poll-ms'], 1),
    lagTimeoutMs: num('lag-timeout-ms', values['lag-timeout-ms'], 100),
    lagMaxProbes: num('lag-max-probes', values['lag-max-probes'], 1),
    lagSource: lagSource as GeneratorPlan['lagSource'],
    maxInflight: num('max-inflight', values['max-inflight'], 1),
    connections: num('connections', values.connections, 1),
    cpuProf: values['cpu-prof'],
    semiSpaceMiB: num('semi-space', values['semi-space'], 1),
    logLevel: values['log-level'],
    out: values.out,
    name: values.name,
    keepDb: values['keep-db'],
    postgres: values.postgres === 'private' ? 'private' : values.postgres === 'shared' ? 'shared' : usage('--postgres: shared or private'),
    drain: !values['no-drain'],
    criteria: { ...DEFAULT_CRITERIA, maxP99Ms: num('p99-bound', values['p99-bound'], 1), maxLagP99Ms: num('lag-bound', values['lag-bound'], 1) },
    settleTimeoutS: num('settle-timeout', values['settle-timeout'], 1),
    quiet: values.quiet,
    pgStatements: values['pg-statements'],
    pgSocket: values['pg-socket'],
  };
}

export class UsageError extends Error {}

function usage(message: string): never {
  throw new UsageError(`${message}\n\n${USAGE}`);
}

export function scheduleOf(o: LoadtestOptions): Step[] {
  return o.kind === 'soak' ? soakSchedule(o.seconds, o.rate!) : rampSchedule(o.seconds, o.from, o.to, o.steps, o.shape);
}

interface ServerProcess {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
  stderrTail: () => string;
}

async function startServer(env: Record<string, string>, cpuProfDir: string | null, semiSpaceMiB: number, logFile: string, log: (s: string) => void): Promise<ServerProcess> {
  const execArgv = [...(cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : []), `--max-semi-space-size=${semiSpaceMiB}`, '--import', 'tsx', SERVER_MAIN];
  const child = spawn(process.execPath, execArgv, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const file = createWriteStream(logFile);
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    file.write(b);
    stderr = (stderr + b.toString()).slice(-20_000);
  });
  child.once('exit', () => file.end());
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code, signal) => {
      if (signal) stderr += `\n(killed by ${signal})`;
      r(code);
    }),
  );
  const url = await new Promise<string>((resolveUrl, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the server did not start within 180 s:\n${stderr.slice(-3000)}`)), 180_000);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /Tradecore is running at (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}) before it was ready:\n${stderr.slice(-3000)}`));
    });
  });
  log(`server pid ${child.pid} at ${url}`);
  return { child, url, exited, stderrTail: () => stderr.slice(-3000) };
}

async function stopServer(s: ServerProcess, log: (t: string) => void): Promise<void> {
  if (s.child.exitCode !== null) return;
  s.child.kill('SIGTERM');
  const code = await Promise.race([s.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 60_000))]);
  if (code === 'timeout') {
    log('the server did not stop within 60 s of SIGTERM; killing it');
    s.child.kill('SIGKILL');
    await s.exited;
  }
}

/** Waits until the read models are at the head of the log, the head stands still and nothing is pending. */
async function settle(databaseUrl: string, userIds: readonly number[], timeoutS: number): Promise<{ settled: boolean; seconds: number; detail: string }> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  const started = performance.now();
  let lastHead: string | null = null;
  let stableSince = 0;
  let detail = '';
  try {
    for (;;) {
      const r = await pool.query<{ head: string | null; cp: string | null; pending: number }>(
        `select (select max(position) from event_store.events)::text as head,
                (select position from readmodel.projection_checkpoint where name = 'readmodels')::text as cp,
                (select count(*) from readmodel.orders where status = 'pending' and user_id = any($1::int[]))::int as pending`,
        [[...userIds]],
      );
      const row = r.rows[0]!;
      const now = performance.now();
      detail = `head ${row.head}, projection checkpoint ${row.cp}, ${row.pending} pending orders`;
      const atHead = row.cp !== null && row.head !== null && BigInt(row.cp) >= BigInt(row.head);
      if (row.head !== lastHead) {
        lastHead = row.head;
        stableSince = now;
      }
      if (atHead && row.pending === 0 && now - stableSince >= 2_000) return { settled: true, seconds: Math.round((now - started) / 100) / 10, detail };
      if (now - started > timeoutS * 1000) return { settled: false, seconds: Math.round((now - started) / 100) / 10, detail };
      await new Promise((res) => setTimeout(res, 500));
    }
  } finally {
    await pool.end();
  }
}

async function scrapeMetrics(url: string): Promise<ScrapedMetrics> {
  try {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2_000) });
    return serverMetricsOf(await res.text());
  } catch {
    return {};
  }
}

async function backendPids(pool: pg.Pool, database: string): Promise<number[]> {
  try {
    const r = await pool.query<{ pid: number }>(`select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`, [database]);
    return r.rows.map((x) => x.pid);
  } catch {
    return [];
  }
}

export type DbStats = Record<'xact_commit' | 'xact_rollback' | 'tup_returned' | 'tup_fetched' | 'tup_inserted' | 'tup_updated' | 'tup_deleted' | 'blks_read' | 'blks_hit', number>;

/** PostgreSQL's counters for one database (pg_stat_database). */
async function dbStats(pool: pg.Pool, database: string): Promise<DbStats | null> {
  try {
    const r = await pool.query<Record<string, string>>(
      `select xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted, blks_read, blks_hit from pg_stat_database where datname = $1`,
      [database],
    );
    const row = r.rows[0];
    if (!row) return null;
    return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)])) as DbStats;
  } catch {
    return null;
  }
}

function perCommand(d: DbStats, commands: number): RunReport['postgresWork'] {
  const per = (x: number) => (commands > 0 ? Math.round((x / commands) * 10) / 10 : 0);
  return {
    totals: d,
    perCommand: {
      transactions: per(d.xact_commit + d.xact_rollback),
      rollbacks: per(d.xact_rollback),
      rowsRead: per(d.tup_returned + d.tup_fetched),
      rowsWritten: per(d.tup_inserted + d.tup_updated + d.tup_deleted),
      blocksTouched: per(d.blks_read + d.blks_hit),
    },
  };
}

function diffStats(a: DbStats, b: DbStats): DbStats {
  return Object.fromEntries(Object.keys(a).map((k) => [k, b[k as keyof DbStats] - a[k as keyof DbStats]])) as DbStats;
}

/** Per-table scan counters of the run's database, cumulative since it was created. */
async function scanStats(pool: pg.Pool): Promise<TableScans[]> {
  try {
    const r = await pool.query<{ t: string; s: string; sr: string; i: string | null; n: string }>(
      `select schemaname || '.' || relname as t, seq_scan as s, seq_tup_read as sr, idx_scan as i, n_tup_ins as n from pg_stat_user_tables`,
    );
    return r.rows.map((x) => ({ table: x.t, seqScans: Number(x.s), seqRowsRead: Number(x.sr), indexScans: Number(x.i ?? 0), rowsInserted: Number(x.n) }));
  } catch {
    return [];
  }
}


/** pg_stat_statements in the run's database: created and reset when the load starts (--pg-statements). */
async function resetStatements(pool: pg.Pool): Promise<boolean> {
  try {
    await pool.query('create extension if not exists pg_stat_statements');
    await pool.query('select pg_stat_statements_reset()');
    return true;
  } catch {
    return false;
  }
}

/** The statements of the load phase, most total execution time first. */
async function readStatements(pool: pg.Pool, database: string): Promise<StatementStat[]> {
  try {
    const r = await pool.query<{ query: string; calls: string; total: string; rows: string }>(
      `select s.query, s.calls, s.total_exec_time as total, s.rows
         from pg_stat_statements s join pg_database d on d.oid = s.dbid
        where d.datname = $1 and s.query not like '%pg_stat_statements%'
        order by s.total_exec_time desc limit 60`,
      [database],
    );
    return r.rows.map((x) => ({ query: x.query, calls: Number(x.calls), totalMs: Number(x.total), rows: Number(x.rows) }));
  } catch {
    return [];
  }
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\..+/, '').replace('T', '-');
}

export interface RunOutcome {
  report: RunReport;
  dir: string;
  exitCode: number;
}

export async function runLoadtest(o: LoadtestOptions, argv: readonly string[]): Promise<RunOutcome> {
  const log = (s: string) => {
    if (!o.quiet) process.stderr.write(`[loadtest] ${s}\n`);
  };
  const name = o.name ?? `${o.mode}-${o.kind}${o.seconds}-${stamp()}`;
  const dir = resolve(o.out ?? join(REPO_ROOT, 'packages/loadtest/results', name));
  mkdirSync(dir, { recursive: true });
  const schedule = scheduleOf(o);
  const failures: string[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  const loadAverageBefore = loadAverage();
  // Before anything of the run starts: the figure that lets this report be compared with others.
  const machineSpeed = measureMachineSpeed();
  log(describeMachineSpeed(machineSpeed));
  const startedAt = new Date().toISOString();
  let db: TestDatabase | undefined;
  let kafka: TestKafka | undefined;
  let server: ServerProcess | undefined;
  let generator: ChildProcess | undefined;
  let databaseUrl = o.databaseUrl;
  let url = o.url;
  let topology: string;
  const profDir = o.cpuProf ? join(dir, 'profile') : null;
  let stoppingServer = false;
  let privateCluster: PrivatePostgres | undefined;
  let serverStartedAt = 0;
  let loadStartedAt = 0;
  let loadEndedAt = 0;

  try {
    if (!url) {
      if (o.mode === 'full') {
        if (!(await kafkaAnswers('127.0.0.1:9092'))) throw new Error('--mode full needs the Kafka broker on 127.0.0.1:9092: bash infra/kafka-local/kafka.sh start');
        process.env.KAFKA_BROKERS ??= '127.0.0.1:9092';
        const k = await getKafka();
        if ('skip' in k) throw new Error(k.skip);
        kafka = k;
        cleanups.push(() => k.deleteTopics().catch(() => undefined));
      }
      if (o.postgres === 'private') {
        const cluster = await startPrivatePostgres({ statements: o.pgStatements });
        log(`private PostgreSQL (${cluster.version}) on port ${cluster.port}`);
        privateCluster = cluster;
        db = await createTestDatabaseOn(cluster.adminUrl, 'loadtest');
      } else {
        db = await createTestDatabase('loadtest');
      }
      databaseUrl = db.url;
      log(`database ${db.name}`);
      const env: Record<string, string> = {
        PORT: '0',
        HOST: '127.0.0.1',
        DATABASE_URL: o.pgSocket && privateCluster ? privateCluster.socketUrl(db.url) : db.url,
        ADMIN_USERNAME: o.admin.username,
        ADMIN_PASSWORD: o.admin.password,
        JWT_SECRET: randomBytes(48).toString('hex'),
        JWT_TTL_SECONDS: '86400',
        RATE_LIMIT_PER_SECOND: '1000000',
        LOGIN_RATE_LIMIT_PER_MINUTE: '100000',
        LOG_LEVEL: o.logLevel,
        SEED_DEMO_MARKETS: 'false',
        // The vault's master key (and nothing else: DATABASE_URL is set) lives with the run's results.
        DATA_DIR: join(dir, 'data'),
      };
      if (kafka) {
        env.KAFKA_BROKERS = kafka.brokers.join(',');
        env.KAFKA_TOPIC_PREFIX = kafka.topicPrefix('loadtest.');
      }
      if (profDir) mkdirSync(profDir, { recursive: true });
      serverStartedAt = performance.now();
      server = await startServer(env, profDir, o.semiSpaceMiB, join(dir, 'server.log'), log);
      url = server.url.replace('0.0.0.0', '127.0.0.1');
      const pgNote = privateCluster
        ? `a private PostgreSQL cluster (${privateCluster.version}, durable defaults${o.pgSocket ? '; the server connects through its Unix-domain socket' : ''})`
        : 'the shared PostgreSQL on 127.0.0.1:5432';
      topology =
        o.mode === 'full'
          ? `one server process (packages/server/src/main.ts: command-api, relay, risk and execution handlers, Kafka projections, query-api) + Kafka broker (${env.KAFKA_BROKERS}, topics ${env.KAFKA_TOPIC_PREFIX}*) + ${pgNote}; the generator in a second process`
          : `one server process (packages/server/src/main.ts: command-api, in-process engine and projections, query-api) + ${pgNote}; the generator in a second process`;
    } else {
      topology = `an existing Tradecore at ${url}; the generator in a second process`;
      if (!databaseUrl) failures.push('no --database-url: the proof cannot run');
    }

    // ---- the generator process ----
    const runTag = randomBytes(3).toString('hex');
    const plan: GeneratorPlan = {
      url,
      admin: o.admin,
      seed: o.seed,
      traders: o.traders,
      markets: o.markets,
      runTag,
      plainSymbols: !o.url,
      schedule,
      lagSample: o.lagSample,
      lagPollMs: o.lagPollMs,
      lagTimeoutMs: o.lagTimeoutMs,
      lagMaxProbes: o.lagMaxProbes,
      lagSource: o.lagSource,
      ...(databaseUrl ? { databaseUrl } : {}),
      maxInflight: o.maxInflight,
      connections: o.connections,
      deposit: { quote: '1000000000', base: '1000000' },
      setupConcurrency: 4,
      drain: o.drain,
      reportEveryMs: 1_000,
      stopAfterFailures: o.kind === 'ramp' ? o.stopAfterFailures : 0,
      criteria: o.criteria,
    };
    const gen = fork(GENERATOR_MAIN, [], { cwd: REPO_ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    generator = gen;
    const genExit = new Promise<number | null>((r) => gen.once('exit', (code) => r(code)));
    const windows: Window[] = [];
    const resources: ResourceSample[] = [];
    let setupDone: Extract<GeneratorMessage, { type: 'setup-done' }> | undefined;
    let done: DoneMessage | undefined;
    let statsAtStart: DbStats | null = null;
    let statsAtEnd: Promise<DbStats | null> | undefined;
    let tableScans: Promise<TableScans[]> | undefined;
    let scansAtStart: Promise<TableScans[]> | undefined;
    let statementsReset: Promise<boolean> | undefined;
    let statements: Promise<StatementStat[]> | undefined;
    let genError: string | undefined;
    const pgAdmin = databaseUrl ? new pg.Pool({ connectionString: databaseUrl, max: 1 }) : undefined;
    const dbName = databaseUrl ? new URL(databaseUrl).pathname.slice(1) : '';
    const pgCpu = new PidSetCpu();
    const kPid = o.mode === 'full' ? localKafkaBrokerPid() : null;
    let lastScrape: ScrapedMetrics = {};
    const sample = (t: number): ResourceSample => {
      const broker = kPid ? sampleProcess(kPid) : null;
      return {
        t,
        server: server?.child.pid ? sampleProcess(server.child.pid) : null,
        generator: gen.pid ? sampleProcess(gen.pid) : null,
        // The backends known so far, read now; new ones join through the async observe() calls below.
        postgresCpuMs: (pgCpu.refresh(), pgCpu.usedMs()),
        postgresPssBytes: pssBytes(pgCpu.seen()),
        kafkaCpuMs: broker?.cpuMs ?? null,
        kafkaRssBytes: broker?.rssBytes ?? null,
        machine: machineCpuMs(),
        loadAvg1: loadAverage()[0],
        ...lastScrape,
      };
    };
    const gotAll = new Promise<void>((resolveAll) => {
      gen.on('message', (m: GeneratorMessage) => {
        switch (m.type) {
          case 'log':
            log(`generator: ${m.text}`);
            break;
          case 'setup-done':
            setupDone = m;
            loadStartedAt = performance.now();
            if (pgAdmin) void dbStats(pgAdmin, dbName).then((x) => (statsAtStart = x));
            if (pgAdmin) scansAtStart = scanStats(pgAdmin);
            if (pgAdmin && o.pgStatements) statementsReset = resetStatements(pgAdmin);
            log(`setup done in ${(m.setupMs / 1000).toFixed(1)} s: ${m.userIds.length} traders, lag source ${m.lagSource}`);
            if (pgAdmin) void backendPids(pgAdmin, dbName).then((p) => pgCpu.observe(p));
            resources.push(sample(0));
            break;
          case 'step':
            log(`${m.label}: ${m.rate}/s`);
            break;
          case 'window': {
            windows.push(m);
            resources.push(sample((performance.now() - loadStartedAt) / 1000));
            if (pgAdmin) void backendPids(pgAdmin, dbName).then((p) => pgCpu.observe(p));
            if (url) void scrapeMetrics(url).then((x) => (lastScrape = x));
            const acc = m.accepted.place + m.accepted.amend + m.accepted.cancel;
            const lat = windows.length;
            if (!o.quiet && (lat % 5 === 0 || o.kind === 'ramp')) {
              const errs = Object.entries(m.statuses).filter(([k]) => k !== '202' && k !== '409').reduce((s, [, v]) => s + v, 0);
              log(`t=${m.t}s offered ${m.offered} accepted ${acc} errors ${errs} inflight ${m.inflight} backlog ${m.backlog} shed ${m.shed}`);
            }
            break;
          }
          case 'done':
            loadEndedAt = performance.now();
            if (pgAdmin) {
              statsAtEnd = dbStats(pgAdmin, dbName);
              tableScans = scanStats(pgAdmin);
              if (statementsReset) statements = statementsReset.then((ok) => (ok ? readStatements(pgAdmin, dbName) : []));
            }
            done = m;
            resolveAll();
            break;
          case 'error':
            genError = m.message;
            resolveAll();
            break;
        }
      });
      void genExit.then(() => resolveAll());
    });
    gen.send({ type: 'start', plan });
    const running = server;
    if (running) {
      void running.exited.then((code) => {
        if (stoppingServer) return;
        failures.push(`the server exited during the run (${code}): ${running.stderrTail()}`);
        gen.kill('SIGTERM');
      });
    }
    await gotAll;
    await genExit;
    const endStats = statsAtEnd ? await statsAtEnd : null;
    const pgWork = statsAtStart && endStats ? diffStats(statsAtStart, endStats) : null;
    const scans = tableScans ? scansDuring(scansAtStart ? await scansAtStart : [], await tableScans) : [];
    const statementStats = statements ? await statements : null;
    if (genError) failures.push(`generator failed: ${genError}`);
    if (!done) failures.push('the generator ended without its report');
    await pgAdmin?.end();

    // ---- settle, stop, profile ----
    let settled = { settled: false, seconds: 0, detail: 'not attempted' };
    if (databaseUrl && setupDone && done) {
      log('waiting for the read models to settle');
      settled = await settle(databaseUrl, setupDone.userIds, o.settleTimeoutS);
      log(`${settled.settled ? 'settled' : 'NOT settled'} after ${settled.seconds} s: ${settled.detail}`);
      if (!settled.settled) failures.push(`the read models did not settle within ${o.settleTimeoutS} s (${settled.detail})`);
    }
    if (server) {
      stoppingServer = true;
      await stopServer(server, log);
      server = undefined;
    }
    let profile: ProfileSummary | null = null;
    if (profDir) {
      const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
      // One profile per thread (the module loader runs on its own thread): the busiest is the main one.
      // The load phase only: offsets from the server's start (the profiler starts with the process).
      const window = serverStartedAt && loadStartedAt && loadEndedAt ? { fromUs: (loadStartedAt - serverStartedAt) * 1000, toUs: (loadEndedAt - serverStartedAt) * 1000 } : undefined;
      for (const f of files) {
        const s = summarizeProfile(JSON.parse(readFileSync(join(profDir, f), 'utf8')) as CpuProfile, 25, window);
        if (!profile || s.busyMs > profile.busyMs) profile = s;
      }
      if (files.length === 0) {
        log('no .cpuprofile was written');
      }
    }

    // ---- proof ----
    let proof: Proof | null = null;
    if (databaseUrl && setupDone && done) {
      log('proof: tradectl verify, tradectl diff, reconciliation');
      proof = await prove(databaseUrl, {
        userIds: setupDone.userIds,
        accepted: { ...done.totals.accepted, drainCancels: done.totals.drainAccepted },
        expectNoOpenOrders: o.drain && done.totals.errors === 0,
      });
      if (!proof.ok) failures.push('the proof failed');
    } else if (!proof) {
      failures.push('the proof did not run');
    }

    // ---- report ----
    const empty: DoneMessage = {
      type: 'done',
      steps: [],
      totals: { accepted: { place: 0, amend: 0, cancel: 0 }, drainAccepted: 0, drainOther: {}, errors: 0, conflicts: 0 },
      lagSource: 'off',
      lagSkipped: 0,
      lagReads: 0,
      errorSamples: [],
      decisionsByTag: {},
      loadSeconds: 0,
      skippedSteps: 0,
    };
    const d = done ?? empty;
    const { rows, peak } = stepRows(d.steps, o.criteria);
    const overall = overallOf(d);
    const series = seriesOf(windows, resources);
    const commandsPerS = o.kind === 'ramp' ? peak.acceptedRate : overall.commandsPerS;
    const report: RunReport = {
      name,
      mode: o.mode,
      kind: o.kind,
      startedAt,
      machine: machineInfo(),
      machineSpeed,
      loadAverageBefore,
      command: `pnpm loadtest ${argv.join(' ')}`.trim(),
      topology,
      setup: {
        traders: o.traders,
        markets: setupDone?.markets.map((m) => m.symbol) ?? [],
        setupSeconds: setupDone ? Math.round(setupDone.setupMs / 100) / 10 : 0,
        lagSource: d.lagSource,
        seed: o.seed,
      },
      steps: withStepSteal(rows, series),
      skippedSteps: d.skippedSteps,
      peak: o.kind === 'ramp' ? { index: peak.index, rate: peak.rate, acceptedRate: Math.round(peak.acceptedRate), criteria: o.criteria } : null,
      overall,
      postgresWork: pgWork ? { ...perCommand(pgWork, overall.accepted.place + overall.accepted.amend + overall.accepted.cancel + overall.conflicts)!, tables: scans } : null,
      cpu: cpuBreakdown(resources, overall.accepted.place + overall.accepted.amend + overall.accepted.cancel + overall.conflicts),
      memory: {
        server: memoryTrend(series, (p) => p.serverRssMB),
        generator: memoryTrend(series, (p) => p.generatorRssMB),
        serverHeapFloor: heapFloor(series, (p) => p.serverHeapMB),
        serverHeapTotal: memoryTrend(series, (p) => p.serverHeapTotalMB ?? null),
        serverExternal: memoryTrend(series, (p) => p.serverExternalMB ?? null),
        postgres: memoryTrend(series, (p) => p.postgresPssMB ?? null),
        kafka: memoryTrend(series, (p) => p.kafkaRssMB ?? null),
      },
      gcPauses: gcPausesOf(resources),
      settleSeconds: settled.seconds,
      settled: settled.settled,
      profile,
      proof,
      goals: {
        ...GOALS,
        met: {
          throughput: commandsPerS >= GOALS.ordersPerS,
          p99: o.kind === 'ramp' ? (peak.index >= 0 && (rows[peak.index]?.latency.p99 ?? Infinity) <= GOALS.p99Ms) : (overall.latency.p99 ?? Infinity) <= GOALS.p99Ms,
          lag: o.kind === 'ramp' ? (peak.index >= 0 && (rows[peak.index]?.lag.p99 ?? Infinity) <= GOALS.lagP99Ms) : (overall.lag.p99 ?? Infinity) <= GOALS.lagP99Ms,
        },
      },
      series,
      errorSamples: d.errorSamples,
      ok: failures.length === 0,
      failures,
    };
    writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 1));
    writeFileSync(join(dir, 'chart.png'), chartOf(report));
    writeFileSync(join(dir, 'report.md'), markdownReport(report, 'chart.png'));
    if (statementStats) {
      const commands = overall.accepted.place + overall.accepted.amend + overall.accepted.cancel + overall.conflicts;
      writeFileSync(join(dir, 'statements.md'), statementsMarkdown(statementStats, commands));
      if (statementStats.length === 0) log('--pg-statements: pg_stat_statements gave nothing (needs --postgres private)');
    }
    log(`report: ${relative(process.cwd(), dir)}/report.md`);
    return { report, dir, exitCode: report.ok ? 0 : 1 };
  } finally {
    if (generator && generator.exitCode === null) generator.kill('SIGTERM');
    if (server) {
      stoppingServer = true;
      await stopServer(server, log);
    }
    for (const c of cleanups) await c();
    if (db) {
      const keep = o.keepDb;
      if (keep && privateCluster) privateCluster.keep();
      if (keep && privateCluster) log(`kept the private cluster ${privateCluster.dir} (database ${db.url}); stop it with: runuser -u postgres -- pg_ctl -D ${privateCluster.dir}/data stop`);
      else if (keep) log(`kept the database: ${db.url}`);
      else if (privateCluster) await privateCluster.stop();
      else await db.drop().catch(() => undefined);
    }
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2).filter((a) => a !== '--');
  let o: LoadtestOptions;
  try {
    o = parseOptions(argv);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof UsageError && err.message === USAGE ? 0 : 64);
  }
  const { report, exitCode } = await runLoadtest(o, argv);
  process.stdout.write(`\n${textReport(report)}\n`);
  process.exitCode = exitCode;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`loadtest failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
