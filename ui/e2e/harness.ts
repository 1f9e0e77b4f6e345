/**
 * End-to-end harness: builds the UI into a temporary folder, starts the single-node server
 * (packages/server/src/main.ts) on a free port with a fresh PostgreSQL database, and launches
 * Debian's Chromium through playwright-core.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { chromium, type BrowserContext } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const UI_DIR = resolve(here, '..');
export const REPO_ROOT = resolve(UI_DIR, '..');
export const SERVER_ENTRY = join(REPO_ROOT, 'packages/server/src/main.ts');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(here, 'screenshots');

/** Why the end-to-end suite cannot run here, or null when it can. */
export function missingPrerequisite(): string | null {
  if (!existsSync(SERVER_ENTRY)) return `the single-node server entry point ${SERVER_ENTRY} does not exist yet`;
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing (apt-get install chromium)`;
  return null;
}

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => ok(port));
    });
  });
}

function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<string> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', fail);
    child.on('exit', (code) => (code === 0 ? ok(out) : fail(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out}`))));
  });
}

/** `vite build` into a fresh temporary folder (never touches ui/dist). */
export async function buildUi(): Promise<string> {
  const outDir = mkdtempSync(join(tmpdir(), 'tradecore-ui-e2e-'));
  await run(process.execPath, [join(UI_DIR, 'node_modules/vite/bin/vite.js'), 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], {
    cwd: UI_DIR,
  });
  return outDir;
}

export interface RunningServer {
  url: string;
  admin: { username: string; password: string };
  log(): string;
  /**
   * Stops the server and starts it again on the same port, database and data directory. With
   * `rotateJwtSecret` it signs with a new secret, so every token issued before is refused (401):
   * the real way to end every session at once.
   */
  restart(opts?: { rotateJwtSecret?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

export async function startServer(opts: { databaseUrl: string; uiDist: string }): Promise<RunningServer> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'tradecore-e2e-data-'));
  const admin = {
    username: process.env.E2E_ADMIN_USERNAME ?? process.env.ADMIN_USERNAME ?? 'admin',
    password: process.env.E2E_ADMIN_PASSWORD ?? process.env.ADMIN_PASSWORD ?? `e2e-${randomBytes(9).toString('base64url')}`,
  };
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    DATABASE_URL: opts.databaseUrl,
    ADMIN_USERNAME: admin.username,
    ADMIN_PASSWORD: admin.password,
    UI_DIST: opts.uiDist,
    JWT_SECRET: randomBytes(32).toString('hex'),
    LOG_LEVEL: 'warn',
    NODE_ENV: 'test',
  };
  // Single-node mode: in-process subscriptions, not the external brokers a CI run may export.
  for (const k of ['KAFKA_BROKERS', 'EVENTSTORE_URL', 'REDIS_URL', 'TLS_CERT_FILE', 'TLS_KEY_FILE']) delete env[k];

  const url = `http://127.0.0.1:${port}`;
  let output = '';
  let child: ChildProcess | undefined;
  const state: { exited: number | null } = { exited: null };
  const exitCode = (): number | null => state.exited;

  const halt = async () => {
    const c = child;
    if (!c || state.exited !== null) return;
    c.kill('SIGTERM');
    await new Promise<void>((ok) => {
      const t = setTimeout(() => {
        c.kill('SIGKILL');
        ok();
      }, 10_000);
      c.once('exit', () => {
        clearTimeout(t);
        ok();
      });
    });
  };
  const stop = async () => {
    await halt();
    rmSync(dataDir, { recursive: true, force: true });
  };

  const launch = async () => {
    state.exited = null;
    const c: ChildProcess = spawn(process.execPath, ['--import', 'tsx', SERVER_ENTRY], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    c.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    c.on('exit', (code) => (state.exited = code ?? -1));
    const deadline = Date.now() + 120_000;
    for (;;) {
      // Read through a function: the exit handler sets it behind TypeScript's narrowing.
      const exited = exitCode();
      if (exited !== null) throw new Error(`the server exited (${exited}) before it was ready:\n${output}`);
      try {
        const res = await fetch(`${url}/ready`);
        if (res.ok) return;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`the server was not ready within 120 s:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  };

  await launch();
  return {
    url,
    admin,
    log: () => output,
    async restart(o = {}) {
      await halt();
      if (o.rotateJwtSecret) env.JWT_SECRET = randomBytes(32).toString('hex');
      await launch();
    },
    stop,
  };
}

export async function launchBrowser(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'tradecore-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
