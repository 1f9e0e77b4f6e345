/**
 * `pnpm loadtest` end to end, small: a single-node Tradecore in its own process, the generator in
 * another, a few seconds of load on a fresh database, then the proof. What every report stands on
 * is checked here: the run passes its proof, every 202 was seen projected (the log → read-model
 * lag has one sample per accepted command), and the report files are written.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseOptions, runLoadtest } from './main.ts';
import type { RunReport } from './report.ts';

describe('pnpm loadtest, end to end (single node, a few seconds)', () => {
  const out = mkdtempSync(join(tmpdir(), 'tc-loadtest-e2e-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('answers every command, sees every 202 projected, and passes the proof', async () => {
    const argv = ['--mode', 'single-node', '--soak', '4', '--rate', '15', '--traders', '4', '--markets', '1', '--seed', 'e2e', '--quiet', '--out', out, '--name', 'e2e'];
    const { report, exitCode } = await runLoadtest(parseOptions(argv), argv);
    expect(report.failures).toEqual([]);
    expect(report.proof?.ok).toBe(true);
    expect(exitCode).toBe(0);
    const o = report.overall;
    const accepted = o.accepted.place + o.accepted.amend + o.accepted.cancel;
    expect(accepted).toBeGreaterThan(20);
    expect(o.errors).toBe(0);
    // One log → read-model lag sample per 202 of the load, none left unresolved.
    expect(o.logLag?.count).toBe(accepted);
    expect(o.logLagUnresolved).toBe(0);
    expect(o.logLag!.p99).not.toBeNull();
    expect(report.machineSpeed?.digest).toMatch(/^[0-9a-f]{64}$/);
    for (const file of ['report.md', 'report.json', 'chart.png']) expect(existsSync(join(out, file))).toBe(true);
    const written = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as RunReport;
    expect(written.overall.logLag?.count).toBe(accepted);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toContain('log → read-model lag (every 202');
  }, 240_000);
});
