import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Canvas, crc32 } from './png.ts';
import { COLORS, formatTick, linearTicks, logTicks, niceStep, renderChart } from './plot.ts';

function decode(png: Buffer): { width: number; height: number; rows: Buffer } {
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let off = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (off < png.length) {
    const len = png.readUInt32BE(off);
    const type = png.toString('ascii', off + 4, off + 8);
    const data = png.subarray(off + 8, off + 8 + len);
    expect(png.readUInt32BE(off + 8 + len)).toBe(crc32(png.subarray(off + 4, off + 8 + len)));
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
    }
    if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  return { width, height, rows: inflateSync(Buffer.concat(idat)) };
}

describe('PNG encoder', () => {
  it('crc32 matches the standard check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('writes a valid RGB image with the pixels drawn', () => {
    const c = new Canvas(7, 5);
    c.set(2, 3, [255, 0, 0]);
    const { width, height, rows } = decode(c.toPng());
    expect([width, height]).toEqual([7, 5]);
    expect(rows.length).toBe((7 * 3 + 1) * 5);
    const at = (x: number, y: number) => [...rows.subarray(y * 22 + 1 + x * 3, y * 22 + 1 + x * 3 + 3)];
    expect(at(2, 3)).toEqual([255, 0, 0]);
    expect(at(0, 0)).toEqual([255, 255, 255]);
  });

  it('draws text and lines', () => {
    const c = new Canvas(40, 20);
    expect(c.text(1, 1, 'p99', [0, 0, 0])).toBe(18);
    c.line(0, 19, 39, 19, [0, 0, 255], 1, [2, 2]);
    let ink = 0;
    for (let y = 0; y < 20; y++) for (let x = 0; x < 40; x++) if (c.get(x, y)[0] === 0) ink++;
    expect(ink).toBeGreaterThan(20);
  });
});

describe('charts', () => {
  it('nice ticks', () => {
    expect(niceStep(100)).toBe(20);
    expect(linearTicks(93).top).toBe(100);
    expect(linearTicks(0).top).toBe(1);
    expect(logTicks(0.7, 300)).toMatchObject({ lo: 0.1, hi: 1000 });
    expect(formatTick(25_000)).toBe('25K');
    expect(formatTick(0.5)).toBe('0.5');
  });

  it('renders stacked panels with gaps, log scales and goal lines', () => {
    const pts = Array.from({ length: 60 }, (_, i) => [i, i % 7 === 0 ? null : 1 + i * 3] as const);
    const png = renderChart({
      title: 'test',
      xLabel: 'seconds',
      panels: [
        { title: 'latency', yLabel: 'ms', log: true, series: [{ name: 'p99', color: COLORS.red, points: pts }], hlines: [{ y: 25, label: 'goal', color: COLORS.grey }] },
        { title: 'empty', yLabel: 'x', series: [] },
      ],
      width: 500,
      panelHeight: 150,
    });
    const { width, height } = decode(png);
    expect(width).toBe(500);
    expect(height).toBe(28 + 2 * 150 + 24);
  });
});
