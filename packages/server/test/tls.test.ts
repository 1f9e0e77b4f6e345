import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { get } from 'node:https';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import { loadConfig } from '../src/config.ts';
import { startSystem, type RunningSystem } from '../src/system.ts';

function httpsGet(url: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describe('TLS', () => {
  let dir: string;
  let db: TestDatabase;
  let system: RunningSystem;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tradecore-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'pipe' });
    db = await createTestDatabase('tls');
    system = await startSystem(
      loadConfig({ PORT: '0', DATABASE_URL: db.url, DATA_DIR: dir, ADMIN_PASSWORD: 'admin-password-tls', LOG_LEVEL: 'silent', TLS_CERT_FILE: join(dir, 'cert.pem'), TLS_KEY_FILE: join(dir, 'key.pem'), SEED_DEMO_MARKETS: 'false' }),
      { log: () => undefined },
    );
  });
  afterAll(async () => {
    await system?.stop();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves HTTPS with the given certificate and refuses plain HTTP', async () => {
    expect(system.url).toMatch(/^https:\/\//);
    const res = await httpsGet(`${system.url}/health`, readFileSync(join(dir, 'cert.pem')));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: 'ok' });
    await expect(fetch(system.url.replace('https://', 'http://') + '/health')).rejects.toThrow();
  });
});
