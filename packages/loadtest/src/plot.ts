/** Line charts as PNG: stacked panels sharing an x axis (seconds), linear or log y, legends, goal lines. */
import { Canvas, type Rgb } from './png.ts';

export interface Series {
  name: string;
  color: Rgb;
  /** [x, y]; a null y leaves a gap. */
  points: readonly (readonly [number, number | null])[];
}

export interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
  log?: boolean;
  hlines?: { y: number; label: string; color: Rgb }[];
}

export const COLORS = {
  blue: [31, 119, 180] as Rgb,
  orange: [255, 127, 14] as Rgb,
  green: [44, 160, 44] as Rgb,
  red: [214, 39, 40] as Rgb,
  purple: [148, 103, 189] as Rgb,
  grey: [127, 127, 127] as Rgb,
  black: [0, 0, 0] as Rgb,
};

const GRID: Rgb = [228, 228, 228];
const AXIS: Rgb = [60, 60, 60];

export function niceStep(range: number, targetTicks = 5): number {
  if (!(range > 0)) return 1;
  const raw = range / targetTicks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const n = raw / mag;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
}

export function linearTicks(max: number, targetTicks = 5): { top: number; ticks: number[] } {
  const step = niceStep(max > 0 ? max : 1, targetTicks);
  const top = Math.max(step, Math.ceil((max > 0 ? max : 1) / step) * step);
  const ticks: number[] = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(Math.round(v * 1e9) / 1e9);
  return { top, ticks };
}

export function logTicks(min: number, max: number): { lo: number; hi: number; ticks: number[] } {
  const lo = 10 ** Math.floor(Math.log10(Math.max(1e-3, min)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(lo * 10, max)));
  const ticks: number[] = [];
  for (let d = lo; d <= hi * 1.0001; d *= 10) for (const m of [1, 2, 5]) if (d * m <= hi * 1.0001) ticks.push(Math.round(d * m * 1e6) / 1e6);
  return { lo, hi, ticks };
}

export function formatTick(v: number): string {
  if (v >= 1_000_000) return `${Math.round(v / 100_000) / 10}M`;
  if (v >= 10_000) return `${Math.round(v / 100) / 10}K`;
  if (v >= 100) return String(Math.round(v));
  return String(Math.round(v * 1000) / 1000);
}

export function renderChart(opts: { title: string; xLabel: string; panels: Panel[]; width?: number; panelHeight?: number }): Buffer {
  const width = opts.width ?? 1000;
  const panelHeight = opts.panelHeight ?? 260;
  const header = 28;
  const height = header + opts.panels.length * panelHeight + 24;
  const c = new Canvas(width, height);
  c.text(12, 8, opts.title, AXIS, 2);
  const xs = opts.panels.flatMap((p) => p.series.flatMap((s) => s.points.map((pt) => pt[0])));
  const xMax = Math.max(1, ...xs);
  const xt = linearTicks(xMax, 10);
  const left = 78;
  const right = width - 16;

  opts.panels.forEach((panel, pi) => {
    const top = header + pi * panelHeight + 22;
    const bottom = header + (pi + 1) * panelHeight - 22;
    c.text(left, top - 16, panel.title, AXIS, 1);
    const ys = panel.series.flatMap((s) => s.points.map((pt) => pt[1]).filter((v): v is number => v !== null && Number.isFinite(v)));
    for (const h of panel.hlines ?? []) ys.push(h.y);
    const yMaxData = ys.length ? Math.max(...ys) : 1;
    let toY: (v: number) => number;
    let yTicks: number[];
    if (panel.log) {
      const positive = ys.filter((v) => v > 0);
      const lt = logTicks(positive.length ? Math.min(...positive) : 1, yMaxData);
      const a = Math.log10(lt.lo);
      const b = Math.log10(lt.hi);
      toY = (v) => bottom - ((Math.log10(Math.max(lt.lo, v)) - a) / (b - a)) * (bottom - top);
      yTicks = lt.ticks;
    } else {
      const lt = linearTicks(yMaxData);
      toY = (v) => bottom - (v / lt.top) * (bottom - top);
      yTicks = lt.ticks;
    }
    const toX = (v: number) => left + (v / xt.top) * (right - left);
    for (const t of yTicks) {
      const y = toY(t);
      c.line(left, y, right, y, GRID);
      const label = formatTick(t);
      c.text(left - 6 - label.length * 6, y - 3, label, AXIS);
    }
    for (const t of xt.ticks) {
      const x = toX(t);
      c.line(x, top, x, bottom, GRID);
      const label = formatTick(t);
      c.text(x - (label.length * 6) / 2, bottom + 5, label, AXIS);
    }
    c.line(left, top, left, bottom, AXIS);
    c.line(left, bottom, right, bottom, AXIS);
    c.textUp(6, bottom - 4, panel.yLabel, AXIS);
    for (const h of panel.hlines ?? []) {
      const y = toY(h.y);
      c.line(left, y, right, y, h.color, 1, [6, 4]);
      c.text(right - h.label.length * 6 - 4, y - 10, h.label, h.color);
    }
    for (const s of panel.series) {
      let prev: [number, number] | null = null;
      for (const [x, y] of s.points) {
        if (y === null || !Number.isFinite(y)) {
          prev = null;
          continue;
        }
        const p: [number, number] = [toX(x), toY(y)];
        if (prev) c.line(prev[0], prev[1], p[0], p[1], s.color, 2);
        else c.fillRect(p[0] - 1, p[1] - 1, 2, 2, s.color);
        prev = p;
      }
    }
    // legend
    let lx = left + 8;
    for (const s of panel.series) {
      c.fillRect(lx, top + 6, 14, 3, s.color);
      lx += 18 + c.text(lx + 18, top + 3, s.name, AXIS) + 12;
    }
  });
  const xl = opts.xLabel;
  c.text((left + right) / 2 - (xl.length * 6) / 2, height - 12, xl, AXIS);
  return c.toPng();
}
