import { fmt, parseDecimal } from '../lib/decimal.ts';

/** A signed number coloured up/down; `suffix` e.g. " %". */
export function Signed({ value, suffix = '', decimals }: { value: string | null | undefined; suffix?: string; decimals?: number }) {
  const d = parseDecimal(value);
  if (!d) return <span className="muted">—</span>;
  const cls = d.units > 0n ? 'up' : d.units < 0n ? 'down' : '';
  return (
    <span className={cls}>
      {fmt(value, { sign: true, group: true, ...(decimals !== undefined ? { decimals } : {}) })}
      {suffix}
    </span>
  );
}

export function Num({ value, decimals }: { value: string | null | undefined; decimals?: number }) {
  return <span className="num">{fmt(value, { group: true, ...(decimals !== undefined ? { decimals } : {}) })}</span>;
}

export function time(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString(undefined, { hour12: false });
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { hour12: false });
}

export function statusText(status: string): string {
  return status.replace(/_/g, ' ');
}
