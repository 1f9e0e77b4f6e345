/**
 * tradectl: the auditors' replay and verification CLI. `run(argv, io)` runs one command in-process
 * and resolves to its exit code; src/main.ts wires it to the real process.
 */
import { createWriteStream } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { assertRange, collect, parseCount, parseId, parseOrderId, parsePosition, parseTime } from './args.ts';
import { connect, requirePostgres, type Connection } from './connect.ts';
import { classify, EXIT_CODES_HELP, ExitCode, usage } from './errors.ts';
import type { EventFilter } from './filter.ts';
import { EVENT_FORMATS, type EventFormat } from './format.ts';
import { Output, type CliIo, type CliStream } from './io.ts';
import { countEvents } from './log.ts';
import { Progress, progressEnabled } from './progress.ts';
import { eventsCommand } from './commands/events.ts';
import { exportRange, verifyExportFile } from './commands/export.ts';
import { recheckCommand } from './commands/recheck.ts';
import { rebuildCommand } from './commands/rebuild.ts';
import { redriveCommand } from './commands/redrive.ts';
import { diffCommand, replayCommand } from './commands/replay.ts';
import { accountStory, orderStory, type StoryFormat } from './commands/story.ts';
import { parseAnchor, reportJson, verifyOnline, writeReportText, type AnyVerifyReport } from './commands/verify.ts';

interface CommonOptions {
  url?: string;
  storeSchema?: string;
  progress?: boolean;
}

const URL_HELP = `The event store is named by --url, else $TRADECORE_EVENTSTORE_URL, else $DATABASE_URL:
  postgres://user@host:5432/db   the PostgreSQL event store (schema --store-schema, default event_store)
  esdb://host:2113?tls=false     EventStoreDB (events, order, account, recheck; replay, diff and
                                 rebuild with --target-url / --readmodel-url; verify and export need PostgreSQL,
                                 which holds the hash chains and seals)`;

function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n\n${EXIT_CODES_HELP}\n`;
}

function addCommon(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'event store URL (default: $TRADECORE_EVENTSTORE_URL or $DATABASE_URL)')
    .option('--store-schema <schema>', 'PostgreSQL schema of the event store', 'event_store')
    .option('--progress', 'show progress on stderr even when it is not a terminal')
    .option('--no-progress', 'never show progress');
}

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const out = new Output(io.stdout);
  let exitCode: number = ExitCode.OK;
  const opened: Connection[] = [];

  const open = async (o: CommonOptions, poolSize?: number): Promise<Connection> => {
    const conn = await connect({ url: o.url, storeSchema: o.storeSchema, env: io.env, poolSize });
    opened.push(conn);
    return conn;
  };
  const progress = (o: CommonOptions, label: string, stream: CliStream = io.stderr): Progress =>
    new Progress(stream, { label, enabled: progressEnabled(stream, o.progress) });
  const note = (text: string): void => {
    io.stderr.write(`${text}\n`);
  };

  const program = new Command('tradectl');
  program
    .description("Tradecore auditors' CLI: read, replay and verify the event log")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', `\n${URL_HELP}\n${examples(['tradectl events --order 3f1c… --format table', 'tradectl verify --url postgres://postgres@127.0.0.1:5432/tradecore', 'tradectl replay --until 2025-03-14T14:03:07Z --user 7', 'tradectl <command> --help'])}`);

  // ---------------- events ----------------
  addCommon(
    program
      .command('events')
      .description('list events in global order, filtered; --follow tails the log live')
      .option('--stream <name>', 'stream name, or prefix with * (repeatable, comma-separated)', collect)
      .option('--type <type>', 'event type (repeatable, comma-separated)', collect)
      .option('--user <userId>', 'events about or caused by this user')
      .option('--market <marketId>', 'events of this market')
      .option('--order <orderId>', 'events of this order (order, account and market streams)')
      .option('--since <time>', 'events at or after this ISO time (metadata.occurredAt)')
      .option('--until <time>', 'events at or before this ISO time')
      .option('--from <position>', 'first global position (inclusive)')
      .option('--to <position>', 'last global position (inclusive)')
      .addOption(new Option('--format <format>', 'output format (default: table on a terminal, else jsonl)').choices(EVENT_FORMATS))
      .option('--limit <n>', 'stop after n events')
      .option('-f, --follow', 'after the history, keep printing new events until interrupted')
      .option('--batch-size <n>', 'rows per query', '2000'),
  )
    .addHelpText(
      'after',
      examples([
        'tradectl events --type OrderRejected --since 2025-03-14T00:00:00Z',
        'tradectl events --user 7 --format csv > user7.csv',
        'tradectl events --stream market-1 --from 812000000000 --to 815000000000 --format jsonl',
        'tradectl events --market 1 --follow',
      ]),
    )
    .action(async (o: CommonOptions & Record<string, string | string[] | boolean | undefined>) => {
      const filter: EventFilter = {};
      if (o.stream) filter.streams = o.stream as string[];
      if (o.type) filter.types = o.type as string[];
      if (typeof o.user === 'string') filter.userId = parseId(o.user, '--user');
      if (typeof o.market === 'string') filter.marketId = parseId(o.market, '--market');
      if (typeof o.order === 'string') filter.orderId = parseOrderId(o.order, '--order');
      if (typeof o.since === 'string') filter.sinceMs = parseTime(o.since, '--since').ms;
      if (typeof o.until === 'string') filter.untilMs = parseTime(o.until, '--until').ms;
      if (filter.sinceMs !== undefined && filter.untilMs !== undefined && filter.sinceMs > filter.untilMs) throw usage('bad range: --since is after --until');
      if (typeof o.from === 'string') filter.fromPosition = parsePosition(o.from, '--from');
      if (typeof o.to === 'string') filter.toPosition = parsePosition(o.to, '--to');
      assertRange(filter.fromPosition, filter.toPosition);
      const format: EventFormat = (o.format as EventFormat | undefined) ?? (io.stdout.isTTY ? 'table' : 'jsonl');
      const limit = typeof o.limit === 'string' ? parseCount(o.limit, '--limit') : undefined;
      const batchSize = parseCount(String(o.batchSize), '--batch-size');
      const conn = await open(o);
      const p = progress(o, 'events');
      await eventsCommand(conn, out, { filter, format, follow: o.follow === true, limit, batchSize, progress: p, signal: io.signal });
    });

  // ---------------- order / account ----------------
  addCommon(
    program
      .command('order')
      .description('the whole story of an order: every event, who caused it, each risk decision with rule, limit and observed value')
      .argument('<orderId>', 'the order id')
      .addOption(new Option('--format <format>', 'output format').choices(['text', 'jsonl']).default('text')),
  )
    .addHelpText('after', examples(['tradectl order 0b7e7c1e-5d5e-4c55-9a53-1f1f4f0e2a11', 'tradectl order 0b7e7c1e-5d5e-4c55-9a53-1f1f4f0e2a11 --format jsonl | jq .riskDecision']))
    .action(async (orderId: string, o: CommonOptions & { format: StoryFormat }) => {
      const id = parseOrderId(orderId);
      const conn = await open(o);
      await orderStory(conn, out, id, o.format);
    });

  addCommon(
    program
      .command('account')
      .description("the whole story of a user's account: deposits, orders, risk decisions, trades, fills — in global order")
      .argument('<userId>', 'the user id')
      .addOption(new Option('--format <format>', 'output format').choices(['text', 'jsonl']).default('text')),
  )
    .addHelpText('after', examples(['tradectl account 7', 'tradectl account 7 --format jsonl > user7-story.jsonl']))
    .action(async (userId: string, o: CommonOptions & { format: StoryFormat }) => {
      const id = parseId(userId, 'userId');
      const conn = await open(o);
      await accountStory(conn, out, id, o.format);
    });

  // ---------------- recheck ----------------
  addCommon(
    program
      .command('recheck')
      .description("re-runs an order's recorded risk decision from its recorded inputs with core-domain; exit 0 agree, 1 disagree")
      .argument('<orderId>', 'the order id')
      .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text')),
  )
    .addHelpText('after', examples(['tradectl recheck 0b7e7c1e-5d5e-4c55-9a53-1f1f4f0e2a11', 'tradectl recheck 0b7e7c1e-5d5e-4c55-9a53-1f1f4f0e2a11 --format json']))
    .action(async (orderId: string, o: CommonOptions & { format: 'text' | 'json' }) => {
      const id = parseOrderId(orderId);
      const conn = await open(o);
      const agrees = await recheckCommand(conn, out, id, o.format);
      exitCode = agrees ? ExitCode.OK : ExitCode.DIFFERENCE;
    });

  // ---------------- replay ----------------
  addCommon(
    program
      .command('replay')
      .description('rebuild the read models from the log into a schema (or another database), optionally as of a position or time')
      .option('--schema <schema>', 'target schema (dropped and created anew)', 'audit_replay')
      .option('--target-url <url>', 'database for the read models (default: the event store database)')
      .option('--until <position|time>', 'stop at this global position (inclusive) or ISO time (metadata.occurredAt)')
      .option('--user <userId>', "print this user's balances, positions and open orders as of the end of the replay")
      .option('--market <marketId>', "print this market's book as of the end of the replay")
      .option('--force', 'allow replaying into the schema named readmodel')
      .option('--batch-size <n>', "events per read and per transaction (default: the projections package's, 20,000)")
      .addOption(new Option('--format <format>', 'summary format').choices(['text', 'json']).default('text')),
  )
    .addHelpText(
      'after',
      examples([
        'tradectl replay --schema audit_20250314',
        'tradectl replay --until 2025-03-14T14:03:07Z --user 7',
        'tradectl replay --until 815000123000000 --market 1 --schema asof',
        'tradectl replay --target-url postgres://postgres@127.0.0.1:5432/audit --schema replay',
      ]),
    )
    .action(async (o: CommonOptions & { schema: string; targetUrl?: string; until?: string; user?: string; market?: string; force?: boolean; batchSize?: string; format: 'text' | 'json' }) => {
      const user = o.user !== undefined ? parseId(o.user, '--user') : undefined;
      const market = o.market !== undefined ? parseId(o.market, '--market') : undefined;
      const batchSize = o.batchSize !== undefined ? parseCount(o.batchSize, '--batch-size') : undefined;
      const conn = await open(o);
      await replayCommand(conn, out, {
        schema: o.schema,
        targetUrl: o.targetUrl,
        until: o.until,
        user,
        market,
        batchSize,
        force: o.force === true,
        format: o.format,
        progress: progress(o, 'replay'),
      });
    });

  // ---------------- diff ----------------
  addCommon(
    program
      .command('diff')
      .description('compare the live read models with a fresh replay of the log up to their checkpoint, row by row; exit 1 on any difference')
      .option('--live-schema <schema>', 'schema of the live read models', 'readmodel')
      .option('--readmodel-url <url>', 'database of the live read models (default: the event store database)')
      .option('--schema <schema>', 'scratch schema for the replay (default: a random tradectl_diff_… name)')
      .option('--keep', 'keep the replay schema afterwards')
      .option('--limit <n>', 'at most n differences per table', '1000')
      .option('--batch-size <n>', "events per read and per transaction (default: the projections package's)")
      .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text')),
  )
    .addHelpText('after', examples(['tradectl diff', 'tradectl diff --live-schema readmodel --readmodel-url postgres://postgres@127.0.0.1:5432/reads', 'tradectl diff --format json --keep']))
    .action(async (o: CommonOptions & { liveSchema: string; readmodelUrl?: string; schema?: string; keep?: boolean; limit: string; batchSize?: string; format: 'text' | 'json' }) => {
      const limit = parseCount(o.limit, '--limit');
      const batchSize = o.batchSize !== undefined ? parseCount(o.batchSize, '--batch-size') : undefined;
      const conn = await open(o);
      const n = await diffCommand(conn, out, {
        liveSchema: o.liveSchema,
        readModelUrl: o.readmodelUrl,
        schema: o.schema,
        keep: o.keep === true,
        limit,
        batchSize,
        format: o.format,
        progress: progress(o, 'replay'),
      });
      exitCode = n === 0 ? ExitCode.OK : ExitCode.DIFFERENCE;
    });

  // ---------------- rebuild ----------------
  addCommon(
    program
      .command('rebuild')
      .description("rebuild the live read models from the log and swap them in, safely while the projector runs (the swap takes its lock); after a read-model migration or a diff")
      .option('--schema <schema>', 'the live read-model schema to replace', 'readmodel')
      .option('--readmodel-url <url>', 'database of the live read models (default: the event store database)')
      .option('--keep-old', 'keep the replaced read models as <schema>_old_<epoch ms> instead of dropping them')
      .option('--batch-size <n>', "events per read and per transaction (default: the projections package's)")
      .addOption(new Option('--format <format>', 'summary format').choices(['text', 'json']).default('text')),
  )
    .addHelpText('after', examples(['tradectl rebuild', 'tradectl rebuild --keep-old --format json', 'tradectl diff || tradectl rebuild']))
    .action(async (o: CommonOptions & { schema: string; readmodelUrl?: string; keepOld?: boolean; batchSize?: string; format: 'text' | 'json' }) => {
      const batchSize = o.batchSize !== undefined ? parseCount(o.batchSize, '--batch-size') : undefined;
      const conn = await open(o);
      await rebuildCommand(conn, out, {
        schema: o.schema,
        readModelUrl: o.readmodelUrl,
        keepOld: o.keepOld === true,
        batchSize,
        format: o.format,
        progress: progress(o, 'rebuild'),
      });
    });

  // ---------------- redrive ----------------
  addCommon(
    program
      .command('redrive')
      .description(
        "re-apply a market fact the risk handler dead-lettered (its account decider threw) to the accounts it concerns, as the handler would have, once the defect is fixed; exactly once (writes to the event store)",
      )
      .argument('<eventId>', "the dead-lettered input's event id (the dead letter's eventId)")
      .option('--user <userId>', 'only this party of the input (a trade concerns its taker and its maker)')
      .option('--dry-run', 'print the events it would append, append nothing')
      .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text')),
  )
    .addHelpText(
      'after',
      examples([
        'tradectl redrive 0b7c…e1 --dry-run      # what the accounts would get',
        'tradectl redrive 0b7c…e1                # exit 0: appended; run again: exit 3, nothing appended',
        'tradectl redrive 0b7c…e1 --user 7 --format json',
      ]),
    )
    .action(async (eventId: string, o: CommonOptions & { user?: string; dryRun?: boolean; format: 'text' | 'json' }) => {
      const userId = o.user !== undefined ? parseId(o.user, '--user') : undefined;
      const conn = await open(o);
      exitCode = await redriveCommand(conn, out, eventId.trim(), { userId, dryRun: o.dryRun === true, format: o.format, clock: io.clock ?? { now: () => new Date() } });
    });

  // ---------------- verify ----------------
  addCommon(
    program
      .command('verify')
      .description('walk the hash chains and seals (of the store, or of an export with --file); names the first modified, missing, inserted or reordered event; exit 2 on failure')
      .option('--file <jsonl>', 'verify an export file offline instead of the store')
      .option('--anchor <sealId:hash>', 'a seal hash kept outside the database that must still match (repeatable)', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
      .option('--digest <hex>', 'with --file: the digest printed by export, which the file must match')
      .option('--max-problems <n>', 'stop collecting after n problems', '100')
      .option('--parallelism <n>', 'parts of the log read at once, each on its own connection and (from 100,000 events) its own thread; at most 3', '2')
      .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text')),
  )
    .addHelpText(
      'after',
      examples([
        'tradectl verify',
        'tradectl verify --parallelism 3   # a log of millions of events, PostgreSQL on more cores',
        'tradectl verify --anchor 12:3b1f…e0 --format json',
        'tradectl export --from 1 --to 900000000000 > part.jsonl && tradectl verify --file part.jsonl',
      ]),
    )
    .action(async (o: CommonOptions & { file?: string; anchor?: string[]; digest?: string; maxProblems: string; parallelism: string; format: 'text' | 'json' }) => {
      const anchors = (o.anchor ?? []).map(parseAnchor);
      const maxProblems = parseCount(o.maxProblems, '--max-problems');
      const parallelism = parseCount(o.parallelism, '--parallelism');
      if (parallelism < 1 || parallelism > 3) throw usage('--parallelism: 1, 2 or 3');
      if (o.digest !== undefined && !/^[0-9a-fA-F]{64}$/.test(o.digest)) throw usage('--digest: expected 64 hex digits');
      if (o.digest !== undefined && o.file === undefined) throw usage('--digest applies to --file only');
      const started = performance.now();
      let report: AnyVerifyReport;
      let source: string;
      const p = progress(o, 'verify');
      if (o.file !== undefined) {
        source = `export file ${o.file}`;
        report = await verifyExportFile(o.file, { anchors, digest: o.digest, maxProblems, progress: p });
      } else {
        const conn = requirePostgres(await open(o), 'verify');
        source = `the event log at ${conn.display} (schema ${conn.schema})`;
        if (p.enabled) p.phase('verify chains', await countEvents(conn));
        report = await verifyOnline(conn, { anchors, maxProblems, parallelism, progress: p });
      }
      p.finish();
      const seconds = (performance.now() - started) / 1000;
      if (o.format === 'json') out.line(JSON.stringify(reportJson(report, source, seconds)));
      else writeReportText(out, report, source, seconds);
      exitCode = report.ok ? ExitCode.OK : ExitCode.VERIFY_FAILED;
    });

  // ---------------- export ----------------
  addCommon(
    program
      .command('export')
      .description('write a range of the log as JSON lines with its hashes and seals, verifiable offline with verify --file')
      .option('--from <position>', 'first global position (inclusive)', '0')
      .option('--to <position>', 'last global position (inclusive; default: the head)')
      .option('-o, --output <file>', 'write to this file instead of stdout')
      .option('--batch-size <n>', 'rows per query', '5000'),
  )
    .addHelpText('after', examples(['tradectl export > log.jsonl', 'tradectl export --from 812000000000 --to 815000000000 -o march.jsonl', 'tradectl verify --file march.jsonl --digest <digest printed by export>']))
    .action(async (o: CommonOptions & { from: string; to?: string; output?: string; batchSize: string }) => {
      const from = parsePosition(o.from, '--from');
      const to0 = o.to !== undefined ? parsePosition(o.to, '--to') : undefined;
      assertRange(from, to0);
      const batchSize = parseCount(o.batchSize, '--batch-size');
      const conn = requirePostgres(await open(o), 'export');
      const head = await conn.store.headPosition();
      if (to0 !== undefined && to0 > head) throw usage(`bad range: --to ${to0} is beyond the head of the log (${head})`);
      if (from > head) throw usage(`bad range: --from ${from} is beyond the head of the log (${head})`);
      const to = to0 ?? head;
      const p = progress(o, 'export');
      if (p.enabled) p.setTotal(await countEvents(conn, from, to));
      let target = out;
      let file: ReturnType<typeof createWriteStream> | undefined;
      if (o.output !== undefined) {
        file = createWriteStream(o.output);
        await new Promise<void>((resolve, reject) => {
          file?.once('open', () => resolve());
          file?.once('error', reject);
        }).catch((err: unknown) => {
          throw usage(`cannot write ${o.output}: ${err instanceof Error ? err.message : String(err)}`);
        });
        target = new Output(file);
      }
      const summary = await exportRange(conn, target, { from, to }, { batchSize, progress: p });
      p.finish();
      if (file) await new Promise<void>((resolve, reject) => file.end((err?: Error | null) => (err ? reject(err) : resolve())));
      note(
        `exported ${summary.events} events (positions ${summary.firstPosition ?? '-'}..${summary.lastPosition ?? '-'}) and ${summary.seals} seals; digest ${summary.digest}`,
      );
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
    await out.flush();
    return exitCode;
  } catch (err) {
    await out.flush().catch(() => undefined);
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return ExitCode.OK;
      return ExitCode.USAGE;
    }
    const { code, message } = classify(err);
    io.stderr.write(`tradectl: ${message}\n`);
    return code;
  } finally {
    for (const c of opened) await c.close();
  }
}
