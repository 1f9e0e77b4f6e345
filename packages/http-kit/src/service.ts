/**
 * What every Tradecore service process does the same way at its edges: read its configuration
 * from the environment through a zod schema (a bad value stops the process before it touches
 * anything, with exit status 78 — EX_CONFIG — and one line per bad variable), and stop gracefully
 * on SIGTERM/SIGINT: once, whatever the number of signals, and within a deadline, so an
 * orchestrator's rollout never waits on a hung close.
 */
import { z } from 'zod';

/** sysexits.h EX_CONFIG: the configuration is wrong, restarting will not help. */
export const EXIT_CONFIG = 78;

/** Building blocks the services' env schemas share. */
export const envFields = {
  /** A PostgreSQL schema name, interpolated into SQL: letters, digits and `_` only. */
  schemaName: (fallback: string) => z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a lower-case SQL identifier').default(fallback),
  port: (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback),
  host: z.string().default('0.0.0.0'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  jwtSecret: z.string().min(32, 'must be at least 32 bytes'),
  /** Kafka consumers' fetch (engine handlers, projections): KAFKA_FETCH_MIN_BYTES, KAFKA_FETCH_MAX_WAIT_MS; unset: the engine's defaults. */
  kafkaFetchMinBytes: z.coerce.number().int().min(1).max(16_777_216).optional(),
  kafkaFetchMaxWaitMs: z.coerce.number().int().min(1).max(10_000).optional(),
};

export class ServiceConfigError extends Error {
  constructor(
    readonly service: string,
    readonly problems: readonly string[],
  ) {
    super(`${service}: invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ServiceConfigError';
  }
}

/** The parsed configuration, or a ServiceConfigError naming every bad variable. */
export function parseServiceEnv<S extends z.ZodType>(service: string, schema: S, env: Record<string, string | undefined> = process.env): z.output<S> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  throw new ServiceConfigError(
    service,
    parsed.error.issues.map((i) => `${i.path.join('.') || '(environment)'}: ${i.message}`),
  );
}

/** parseServiceEnv for a process entry point: prints the problems to stderr and exits 78. */
export function loadServiceEnv<S extends z.ZodType>(service: string, schema: S, env: Record<string, string | undefined> = process.env): z.output<S> {
  try {
    return parseServiceEnv(service, schema, env);
  } catch (err) {
    if (err instanceof ServiceConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw err;
  }
}

export interface StopOnSignalsOptions {
  /** After this long the process exits 1 even if `stop` has not settled. Default 25 s (below Kubernetes' 30 s grace period). */
  timeoutMs?: number;
  signals?: readonly NodeJS.Signals[];
  /** Where the signals come from; the process by default. */
  source?: Pick<NodeJS.EventEmitter, 'on'>;
  log?: (message: string) => void;
  exit?: (code: number) => void;
}

/**
 * Runs `stop` on the first SIGTERM/SIGINT and exits 0 when it resolves, 1 when it rejects or
 * outlives the deadline. Later signals are ignored: a second Ctrl-C must not start a second,
 * overlapping shutdown that closes pools under in-flight work.
 */
export function stopOnSignals(service: string, stop: () => Promise<void>, options: StopOnSignalsOptions = {}): void {
  const { timeoutMs = 25_000, signals = ['SIGTERM', 'SIGINT'], source = process, log = (m) => process.stderr.write(`${m}\n`), exit = (c) => process.exit(c) } = options;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log(`${service}: ${signal}, stopping`);
    const deadline = setTimeout(() => {
      log(`${service}: still stopping after ${timeoutMs} ms, exiting`);
      exit(1);
    }, timeoutMs);
    deadline.unref();
    stop().then(
      () => {
        clearTimeout(deadline);
        exit(0);
      },
      (err: unknown) => {
        clearTimeout(deadline);
        log(`${service}: shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
        exit(1);
      },
    );
  };
  for (const s of signals) source.on(s, () => onSignal(s));
}
