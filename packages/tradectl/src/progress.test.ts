import { describe, expect, it } from 'vitest';
import { Progress, progressEnabled } from './progress.ts';

function fakeStream(tty: boolean) {
  let text = '';
  return { write: (s: string) => ((text += s), true), isTTY: tty, text: () => text };
}

describe('Progress', () => {
  it('draws a bar with events/s and an ETA on a terminal, redrawn in place', () => {
    let now = 0;
    const s = fakeStream(true);
    const p = new Progress(s, { label: 'replay', total: 1_000_000, enabled: true, now: () => now });
    now = 2000;
    p.update(250_000);
    expect(s.text()).toBe('\r\x1b[2Kreplay [######..................]  25.0% 250,000/1,000,000 events 125,000 ev/s ETA 6s');
    now = 8000;
    p.update(750_000);
    p.finish();
    expect(s.text().endsWith('100.0% 1,000,000/1,000,000 events 125,000 ev/s in 8s\n')).toBe(true);
  });

  it('writes one line per second when forced on a non-terminal, and nothing when disabled', () => {
    let now = 0;
    const s = fakeStream(false);
    const p = new Progress(s, { label: 'events', enabled: true, now: () => now });
    now = 500;
    p.update(10);
    now = 1200;
    p.update(10);
    now = 1500;
    p.update(10);
    expect(s.text()).toBe('events 20 events 17 ev/s elapsed 1s\n');
    const off = fakeStream(true);
    const q = new Progress(off, { label: 'x', enabled: false, now: () => now });
    q.update(5);
    q.finish();
    expect(off.text()).toBe('');
    expect(progressEnabled({ write: () => true, isTTY: true }, undefined)).toBe(true);
    expect(progressEnabled({ write: () => true, isTTY: false }, undefined)).toBe(false);
    expect(progressEnabled({ write: () => true, isTTY: false }, true)).toBe(true);
    expect(progressEnabled({ write: () => true, isTTY: true }, false)).toBe(false);
  });
});
