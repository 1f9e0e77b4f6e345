/**
 * Exit codes (documented in docs/tradectl.md and in `tradectl --help`), after sysexits(3).
 */
import { EventStoreUnavailableError, IdempotencyConflictError } from '@tradecore/event-store';
import { EventSchemaError } from '@tradecore/core-domain';

export const ExitCode = {
  /** Success: the log verifies, the replay agrees, the command did what it was asked. */
  OK: 0,
  /** A difference: `diff` found rows that differ, `recheck` disagrees with the recorded decision. */
  DIFFERENCE: 1,
  /** Verification failure: a hash chain or seal is broken (`verify`). */
  VERIFY_FAILED: 2,
  /** Nothing to do: `redrive` found the input already applied (or nothing to apply) and appended nothing. */
  NOTHING_TO_DO: 3,
  /** Refused: `redrive`'s account decider still throws on the input; nothing appended. */
  REFUSED: 4,
  /** Usage: unknown command or option, a malformed value, a bad range. */
  USAGE: 64,
  /** Bad data: an export file or a recorded event that cannot be read. */
  DATA: 65,
  /** Not found: no such order, user, event or file. */
  NOT_FOUND: 66,
  /** Unavailable: the event store or database cannot be reached, or holds no event store. */
  UNAVAILABLE: 69,
  /** Internal error (a bug in tradectl). */
  SOFTWARE: 70,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODES_HELP = `Exit codes:
  0   ok
  1   difference: diff found differing rows, recheck disagrees with the recorded decision
  2   verification failure: a hash chain or seal is broken (verify)
  3   nothing to do: redrive found the input already applied, or nothing to apply; appended nothing
  4   refused: redrive would mis-state the account (a later fact about the order came first); appended nothing
  64  usage: unknown command or option, malformed value, bad range
  65  bad data: unreadable export file or recorded event
  66  not found: no such order, user, event or file
  69  unavailable: cannot reach the event store / database, or it holds no event store
  70  internal error`;

export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

export const usage = (message: string): CliError => new CliError(ExitCode.USAGE, message);
export const notFound = (message: string): CliError => new CliError(ExitCode.NOT_FOUND, message);
export const badData = (message: string): CliError => new CliError(ExitCode.DATA, message);
export const unavailable = (message: string, cause?: unknown): CliError => new CliError(ExitCode.UNAVAILABLE, message, { cause });

const PG_UNAVAILABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN', '3D000', '28P01', '28000', '57P01', '57P03', '53300', '08001', '08006']);

/** Turns any error into an exit code and a one-line message. */
export function classify(err: unknown): { code: ExitCode; message: string } {
  if (err instanceof CliError) return { code: err.exitCode, message: err.message };
  if (err instanceof EventStoreUnavailableError) return { code: ExitCode.UNAVAILABLE, message: err.message };
  if (err instanceof EventSchemaError) return { code: ExitCode.DATA, message: err.message };
  if (err instanceof IdempotencyConflictError) return { code: ExitCode.DATA, message: err.message };
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && PG_UNAVAILABLE.has(code)) return { code: ExitCode.UNAVAILABLE, message };
  // PostgreSQL classes: 08 connection, 28 authorization, 3D catalog, 53 resources, 57 operator
  // intervention, 58 system; 42501 insufficient privilege. The server failed us: not a tradectl bug.
  if (typeof code === 'string' && /^(08|28|3D|53|57|58)[0-9A-Z]{3}$|^42501$/.test(code)) {
    return { code: ExitCode.UNAVAILABLE, message: `PostgreSQL: ${message} (${code})` };
  }
  if (/Connection terminated|timeout exceeded when trying to connect/i.test(message)) return { code: ExitCode.UNAVAILABLE, message };
  return { code: ExitCode.SOFTWARE, message: err instanceof Error && err.stack ? err.stack : message };
}
