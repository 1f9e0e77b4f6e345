/**
 * The engine process's operations endpoint, on a real broker and PostgreSQL: the probes answer,
 * /metrics carries the relay and consumer lag gauges with real values, and a bad configuration
 * stops the process with exit 78 before it touches anything.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describeWith, getKafka } from '@tradecore/testkit';
import { describe, expect, it } from 'vitest';
import { appendOrder, createTestStore, seedMarketAndDeposits, spawnEngine, USER_A, waitFor } from './test-support.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

function gauge(metrics: string, name: string, labels = ''): number | null {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}` : ''}`) && !l.startsWith('#'));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : null;
}

describe('engine process configuration', () => {
  it('refuses a bad configuration with exit 78, naming every bad variable', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'relay'], {
      env: { ...process.env, DATABASE_URL: 'not a url', KAFKA_BROKERS: 'localhost', SESSION_TIMEOUT_MS: '100', PORT: '80000' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(78);
    expect(run.stderr).toContain('engine relay: invalid configuration');
    for (const name of ['DATABASE_URL', 'KAFKA_BROKERS', 'SESSION_TIMEOUT_MS', 'PORT']) expect(run.stderr).toContain(`  ${name}: `);
  });

  it('refuses an unknown role with exit 2', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'matcher'], { env: process.env, encoding: 'utf8', timeout: 30_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('usage: main.ts relay|risk|execution');
  });
});

describeWith(getKafka, 'engine process operations endpoint', (tk) => {
  it('answers /health and /ready, and exports relay and consumer lag on /metrics', async () => {
    const ts = await createTestStore('ops');
    const env = { DATABASE_URL: ts.db.url, KAFKA_BROKERS: tk.brokers.join(','), TOPIC_PREFIX: tk.prefix };
    const engine = await spawnEngine(['relay', 'risk'], env);
    try {
      const base = `http://127.0.0.1:${engine.opsPort}`;
      expect(engine.opsPort).toBeGreaterThan(0);
      expect((await fetch(`${base}/health`)).status).toBe(200);
      expect((await fetch(`${base}/ready`)).status).toBe(200);

      await seedMarketAndDeposits(ts.store);
      await appendOrder(ts.store, { userId: USER_A, marketId: 1, side: 'sell', price: '100', quantity: '1' });
      // The relay publishes everything and risk decides it: both lags come back to 0.
      await waitFor('risk to accept the order', async () => (await ts.store.readAll()).some((e) => e.type === 'OrderAccepted'));
      const metrics = await waitFor('lags at zero', async () => {
        const text = await (await fetch(`${base}/metrics`)).text();
        const relayLag = gauge(text, 'tradecore_relay_lag_seconds');
        const riskLag = gauge(text, 'tradecore_consumer_lag_messages', `group="${tk.prefix}tradecore-risk"`);
        return relayLag === 0 && riskLag === 0 ? text : null;
      });
      expect(metrics).toContain(`topic="${tk.prefix}tradecore.account-inbox"`);
      expect(gauge(metrics, 'tradecore_relay_messages_total', `topic="${tk.prefix}tradecore.events"`)).toBeGreaterThanOrEqual(4);
      expect(gauge(metrics, 'tradecore_engine_inputs_total', 'handler="risk",outcome="decided"')).toBeGreaterThanOrEqual(1);
      expect(metrics).toContain('process_resident_memory_bytes');
    } finally {
      await engine.stop();
      await ts.close();
      await tk.deleteTopics().catch(() => undefined);
    }
  });
});
