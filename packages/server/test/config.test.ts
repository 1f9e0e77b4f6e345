import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { ConfigError, loadConfig } from '../src/config.ts';

describe('configuration', () => {
  it('takes the embedded defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ PORT: 8080, HOST: '127.0.0.1', DATA_DIR: '.data', ADMIN_USERNAME: 'admin', SEED_DEMO_MARKETS: true });
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.KAFKA_BROKERS).toBeUndefined();
    expect(c.EVENT_STORE_APPENDS_IN_FLIGHT).toBe(2);
  });

  it('takes the group commit batches in flight as a whole number from 1 to 16', () => {
    expect(loadConfig({ EVENT_STORE_APPENDS_IN_FLIGHT: '1' }).EVENT_STORE_APPENDS_IN_FLIGHT).toBe(1);
    expect(loadConfig({ EVENT_STORE_APPENDS_IN_FLIGHT: '16' }).EVENT_STORE_APPENDS_IN_FLIGHT).toBe(16);
  });

  it("leaves the Kafka consumers' fetch to the engine's default unless told, and takes whole numbers", () => {
    const c = loadConfig({});
    expect([c.KAFKA_FETCH_MIN_BYTES, c.KAFKA_FETCH_MAX_WAIT_MS]).toEqual([undefined, undefined]);
    const told = loadConfig({ KAFKA_FETCH_MIN_BYTES: '1', KAFKA_FETCH_MAX_WAIT_MS: '100' });
    expect([told.KAFKA_FETCH_MIN_BYTES, told.KAFKA_FETCH_MAX_WAIT_MS]).toEqual([1, 100]);
  });

  it.each([
    [{ KAFKA_FETCH_MIN_BYTES: '0' }, 'KAFKA_FETCH_MIN_BYTES'],
    [{ KAFKA_FETCH_MIN_BYTES: '64k' }, 'KAFKA_FETCH_MIN_BYTES'],
    [{ KAFKA_FETCH_MAX_WAIT_MS: '0' }, 'KAFKA_FETCH_MAX_WAIT_MS'],
    [{ KAFKA_FETCH_MAX_WAIT_MS: '2.5' }, 'KAFKA_FETCH_MAX_WAIT_MS'],
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL'],
    [{ KAFKA_BROKERS: 'localhost' }, 'KAFKA_BROKERS'],
    [{ JWT_SECRET: 'short' }, 'JWT_SECRET'],
    [{ ADMIN_PASSWORD: 'x' }, 'ADMIN_PASSWORD'],
    [{ TLS_CERT_FILE: '/tmp/cert.pem' }, 'TLS_KEY_FILE'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ EVENT_STORE_APPENDS_IN_FLIGHT: '0' }, 'EVENT_STORE_APPENDS_IN_FLIGHT'],
    [{ EVENT_STORE_APPENDS_IN_FLIGHT: '17' }, 'EVENT_STORE_APPENDS_IN_FLIGHT'],
    [{ EVENT_STORE_APPENDS_IN_FLIGHT: 'two' }, 'EVENT_STORE_APPENDS_IN_FLIGHT'],
  ])('refuses %o naming %s', (env, name) => {
    expect(() => loadConfig(env as NodeJS.ProcessEnv)).toThrow(ConfigError);
    expect(() => loadConfig(env as NodeJS.ProcessEnv)).toThrow(name);
  });

  it('stops the process with a clear message and exit code 78 on a bad value', () => {
    const main = resolve(import.meta.dirname, '../src/main.ts');
    const run = spawnSync(process.execPath, ['--import', 'tsx', main], {
      env: { ...process.env, PORT: 'eighty', DATABASE_URL: '' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(78);
    expect(run.stderr).toContain('invalid configuration');
    expect(run.stderr).toContain('PORT');
    expect(run.stdout).toBe('');
  });
});
