/**
 * Progress on stderr: a bar with events/s and ETA when the total is known, a counter otherwise.
 * Drawn only when stderr is a terminal or with --progress (then one line per second, no \r).
 * Nothing is ever written to stdout.
 */
import type { CliStream } from './io.ts';
import { formatNumber } from './format.ts';

export interface ProgressOptions {
  label: string;
  total?: number;
  enabled: boolean;
  /** Time source (tests). */
  now?: () => number;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export class Progress {
  private done = 0;
  private readonly started: number;
  private lastDraw = 0;
  private drawn = false;
  private readonly now: () => number;
  private readonly tty: boolean;

  constructor(
    private readonly stream: CliStream,
    private readonly options: ProgressOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
    this.started = this.now();
    this.tty = stream.isTTY === true;
  }

  /** Starts a new phase: another label and total, the count from zero. */
  phase(label: string, total: number | undefined): void {
    if (this.options.enabled && (this.drawn || this.done > 0)) this.draw(true);
    this.options.label = label;
    this.options.total = total;
    this.done = 0;
    this.lastDraw = 0;
  }

  get enabled(): boolean {
    return this.options.enabled;
  }

  get count(): number {
    return this.done;
  }

  setTotal(total: number | undefined): void {
    this.options.total = total;
  }

  /** Adds `n` events (or sets the count with `absolute`). */
  update(n: number, absolute = false): void {
    this.done = absolute ? n : this.done + n;
    if (!this.options.enabled) return;
    const t = this.now();
    if (t - this.lastDraw < (this.tty ? 100 : 1000)) return;
    this.lastDraw = t;
    this.draw(false);
  }

  render(final: boolean): string {
    const elapsed = Math.max((this.now() - this.started) / 1000, 1e-6);
    const rate = this.done / elapsed;
    const total = this.options.total;
    const head = `${this.options.label} `;
    if (total !== undefined && total > 0) {
      const frac = Math.min(1, this.done / total);
      const width = 24;
      const filled = Math.round(frac * width);
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
      const eta = final ? `in ${duration(elapsed)}` : `ETA ${duration((total - this.done) / Math.max(rate, 1e-9))}`;
      return `${head}${bar} ${(frac * 100).toFixed(1).padStart(5)}% ${formatNumber(this.done)}/${formatNumber(total)} events ${formatNumber(rate)} ev/s ${eta}`;
    }
    return `${head}${formatNumber(this.done)} events ${formatNumber(rate)} ev/s ${final ? 'in' : 'elapsed'} ${duration(elapsed)}`;
  }

  private draw(final: boolean): void {
    const text = this.render(final);
    if (this.tty) this.stream.write(`\r\x1b[2K${text}${final ? '\n' : ''}`);
    else this.stream.write(`${text}\n`);
    this.drawn = true;
  }

  /** Draws the final state (when enabled) and ends the line. */
  finish(): void {
    if (!this.options.enabled) return;
    if (this.drawn || this.done > 0) this.draw(true);
  }
}

export function progressEnabled(stderr: CliStream, flag: boolean | undefined): boolean {
  if (flag === false) return false;
  return flag === true || stderr.isTTY === true;
}
