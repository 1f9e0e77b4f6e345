/** Rendering events: JSON lines, CSV, and a fixed-width table for terminals. */
import type { RecordedEvent } from '@tradecore/event-store';
import { eventTimeIso, rec } from './filter.ts';

export type EventFormat = 'table' | 'jsonl' | 'csv';
export const EVENT_FORMATS: readonly EventFormat[] = ['table', 'jsonl', 'csv'];


/** The event as plain JSON (bigints as decimal strings). */
export function eventJson(e: RecordedEvent): Record<string, unknown> {
  return {
    position: e.globalPosition.toString(),
    stream: e.stream,
    revision: e.streamRevision.toString(),
    eventId: e.eventId,
    type: e.type,
    recordedAt: e.recordedAt,
    data: e.data,
    metadata: e.metadata,
  };
}

export function jsonLine(e: RecordedEvent): string {
  return `${JSON.stringify(eventJson(e))}\n`;
}

function plain(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return v.toString();
  return JSON.stringify(v) ?? '';
}

export function csvField(v: unknown): string {
  const s = plain(v);
  return /[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

export const CSV_HEADER = 'position,time,recorded_at,stream,revision,event_id,type,user_id,correlation_id,causation_id,data\n';

export function csvLine(e: RecordedEvent): string {
  const m = rec(e.metadata);
  return (
    [
      e.globalPosition.toString(),
      eventTimeIso(e),
      e.recordedAt,
      e.stream,
      e.streamRevision.toString(),
      e.eventId,
      e.type,
      m.userId ?? '',
      m.correlationId ?? '',
      m.causationId ?? '',
      e.data,
    ]
      .map(csvField)
      .join(',') + '\n'
  );
}

const SUMMARY_KEYS = [
  'userId',
  'username',
  'marketId',
  'symbol',
  'orderId',
  'side',
  'type',
  'timeInForce',
  'price',
  'quantity',
  'asset',
  'amount',
  'reason',
  'rule',
  'limit',
  'observed',
  'reservedAsset',
  'reservedAmount',
  'takerSide',
  'takerOrderId',
  'makerOrderId',
  'liquidity',
  'fee',
  'remainingQuantity',
  'cancelledQuantity',
  'cause',
  'scope',
];

/** A one-line, human summary of an event's data (key fields first). */
export function dataSummary(data: unknown, maxLength = 200): string {
  const d = rec(data);
  const parts: string[] = [];
  for (const k of SUMMARY_KEYS) {
    const v = d[k];
    if (v === undefined || v === null) continue;
    parts.push(`${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  }
  if (Array.isArray(d.checks)) parts.push(`checks=${d.checks.length}`);
  const s = parts.join(' ');
  return s.length > maxLength ? `${s.slice(0, maxLength - 1)}…` : s;
}

function pad(s: string, n: number): string {
  if (s.length > n) return `${s.slice(0, n - 1)}…`;
  return s.padEnd(n);
}

export const TABLE_COLUMNS: readonly { name: string; width: number }[] = [
  { name: 'POSITION', width: 20 },
  { name: 'TIME', width: 24 },
  { name: 'STREAM', width: 22 },
  { name: 'REV', width: 5 },
  { name: 'TYPE', width: 21 },
  { name: 'BY', width: 5 },
];

export function tableHeader(): string {
  return `${TABLE_COLUMNS.map((c) => pad(c.name, c.width)).join(' ')} DATA\n`;
}

export function tableLine(e: RecordedEvent, width = 160): string {
  const m = rec(e.metadata);
  const cells = [e.globalPosition.toString(), eventTimeIso(e), e.stream, e.streamRevision.toString(), e.type, m.userId === null || m.userId === undefined ? '-' : plain(m.userId)];
  const fixed = TABLE_COLUMNS.map((c, i) => pad(cells[i] ?? '', c.width)).join(' ');
  const room = Math.max(30, width - fixed.length - 1);
  return `${fixed} ${dataSummary(e.data, room)}\n`;
}

export function formatEvent(format: EventFormat, e: RecordedEvent, width?: number): string {
  switch (format) {
    case 'jsonl':
      return jsonLine(e);
    case 'csv':
      return csvLine(e);
    case 'table':
      return tableLine(e, width);
  }
}

export function formatHeader(format: EventFormat): string {
  switch (format) {
    case 'jsonl':
      return '';
    case 'csv':
      return CSV_HEADER;
    case 'table':
      return tableHeader();
  }
}

/** Renders rows as an aligned text table. */
export function textTable(headers: readonly string[], rows: readonly (readonly string[])[], indent = ''): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    indent +
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n';
}

export function formatNumber(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
