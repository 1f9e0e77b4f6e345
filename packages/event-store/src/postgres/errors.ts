import { EventStoreUnavailableError } from '../port.ts';

interface PgLikeError {
  code?: string;
  constraint?: string;
  message?: string;
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '53300', // too_many_connections
]);

export function pgErrorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as PgLikeError).code : undefined;
}

export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  if (pgErrorCode(err) !== '23505') return false;
  return constraint === undefined || (err as PgLikeError).constraint === constraint;
}

/** Connection-level failures become EventStoreUnavailableError; everything else is rethrown. */
export function mapPgError(err: unknown): unknown {
  if (err instanceof EventStoreUnavailableError) return err;
  const code = pgErrorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  if (
    (code !== undefined && UNAVAILABLE_CODES.has(code)) ||
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
      message,
    )
  ) {
    return new EventStoreUnavailableError(`PostgreSQL event store unavailable: ${message}`, { cause: err });
  }
  return err;
}
