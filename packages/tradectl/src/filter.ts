/**
 * Event filters: one predicate in TypeScript (authoritative, works on any adapter) and, for the
 * PostgreSQL store, the same predicate pushed down into SQL so only matching rows are read.
 */
import type { RecordedEvent } from '@tradecore/event-store';

export interface EventFilter {
  /** Exact stream names, or prefixes ending in `*` (e.g. `order-*`). */
  streams?: readonly string[];
  types?: readonly string[];
  /** Events about the user (data.userId, takerUserId, makerUserId, stream account-N) or caused by them (metadata.userId). */
  userId?: number;
  /** data.marketId, or stream market-N. */
  marketId?: number;
  /** data.orderId, takerOrderId, makerOrderId, or stream order-{id}. */
  orderId?: string;
  /** Inclusive global position bounds. */
  fromPosition?: bigint;
  toPosition?: bigint;
  /** Inclusive bounds on the event's time (metadata.occurredAt, else recordedAt), epoch ms. */
  sinceMs?: number;
  untilMs?: number;
}

/** A recorded event's data or metadata as fields (they are untyped JSON: anything else has none). */
export function rec(x: unknown): Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Record<string, unknown>) : {};
}

function eq(v: unknown, expected: string): boolean {
  return (typeof v === 'string' || typeof v === 'number') && String(v) === expected;
}

/** metadata.occurredAt when it parses, else recordedAt, in epoch ms. */
export function eventTimeMs(e: RecordedEvent): number {
  const occurred = rec(e.metadata).occurredAt;
  if (typeof occurred === 'string') {
    const t = Date.parse(occurred);
    if (!Number.isNaN(t)) return t;
  }
  return Date.parse(e.recordedAt);
}

export function eventTimeIso(e: RecordedEvent): string {
  const t = eventTimeMs(e);
  return Number.isNaN(t) ? e.recordedAt : new Date(t).toISOString();
}

export function streamMatches(patterns: readonly string[], stream: string): boolean {
  return patterns.some((p) => (p.endsWith('*') ? stream.startsWith(p.slice(0, -1)) : stream === p));
}

export function matchesFilter(f: EventFilter, e: RecordedEvent): boolean {
  if (f.fromPosition !== undefined && e.globalPosition < f.fromPosition) return false;
  if (f.toPosition !== undefined && e.globalPosition > f.toPosition) return false;
  if (f.streams && f.streams.length > 0 && !streamMatches(f.streams, e.stream)) return false;
  if (f.types && f.types.length > 0 && !f.types.includes(e.type)) return false;
  const d = rec(e.data);
  if (f.userId !== undefined) {
    const u = String(f.userId);
    if (!(eq(d.userId, u) || eq(d.takerUserId, u) || eq(d.makerUserId, u) || eq(rec(e.metadata).userId, u) || e.stream === `account-${u}`)) return false;
  }
  if (f.marketId !== undefined) {
    const m = String(f.marketId);
    if (!(eq(d.marketId, m) || e.stream === `market-${m}`)) return false;
  }
  if (f.orderId !== undefined) {
    const o = f.orderId;
    if (!(eq(d.orderId, o) || eq(d.takerOrderId, o) || eq(d.makerOrderId, o) || e.stream === `order-${o}`)) return false;
  }
  if (f.sinceMs !== undefined || f.untilMs !== undefined) {
    const t = eventTimeMs(e);
    if (f.sinceMs !== undefined && !(t >= f.sinceMs)) return false;
    if (f.untilMs !== undefined && !(t <= f.untilMs)) return false;
  }
  return true;
}

/**
 * SQL conditions (over table alias `e`) that select a superset of `matchesFilter`: positions,
 * streams, types and ids are pushed down; times are checked in TypeScript only.
 * Parameters are appended to `values`.
 */
export function filterSql(f: EventFilter, values: unknown[]): string[] {
  const conds: string[] = [];
  const param = (v: unknown): string => {
    values.push(v);
    return `$${values.length}`;
  };
  if (f.streams && f.streams.length > 0) {
    const exact = f.streams.filter((s) => !s.endsWith('*'));
    const prefixes = f.streams.filter((s) => s.endsWith('*')).map((s) => s.slice(0, -1).replace(/[\\%_]/g, (c) => `\\${c}`) + '%');
    const parts: string[] = [];
    if (exact.length > 0) parts.push(`e.stream = any(${param(exact)}::text[])`);
    for (const p of prefixes) parts.push(`e.stream like ${param(p)}`);
    conds.push(`(${parts.join(' or ')})`);
  }
  if (f.types && f.types.length > 0) conds.push(`e.type = any(${param([...f.types])}::text[])`);
  if (f.userId !== undefined) {
    const u = param(String(f.userId));
    conds.push(
      `(e.data->>'userId' = ${u} or e.data->>'takerUserId' = ${u} or e.data->>'makerUserId' = ${u} or e.metadata->>'userId' = ${u} or e.stream = 'account-' || ${u})`,
    );
  }
  if (f.marketId !== undefined) {
    const m = param(String(f.marketId));
    conds.push(`(e.data->>'marketId' = ${m} or e.stream = 'market-' || ${m})`);
  }
  if (f.orderId !== undefined) {
    const o = param(f.orderId);
    conds.push(`(e.data->>'orderId' = ${o} or e.data->>'takerOrderId' = ${o} or e.data->>'makerOrderId' = ${o} or e.stream = 'order-' || ${o})`);
  }
  return conds;
}
