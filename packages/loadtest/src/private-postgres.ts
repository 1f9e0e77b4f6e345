/**
 * A PostgreSQL cluster of the run's own, from the machine's PostgreSQL binaries, with durable
 * defaults (fsync and synchronous_commit on, as the shared server). Why: the event store's global
 * readers never pass a transaction that is still open anywhere in the same cluster (see
 * docs/event-store.md), so on a shared server somebody else's long transaction in another database
 * stalls this run's relay, handlers and projections. A private cluster measures Tradecore alone.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PrivatePostgres {
  adminUrl: string;
  port: number;
  dir: string;
  version: string;
  /** `url` (a database of this cluster) through the cluster's Unix-domain socket in `dir` instead of TCP. */
  socketUrl(url: string): string;
  stop(): Promise<void>;
  /** Leaves the cluster running after this process exits. */
  keep(): void;
}

/**
 * `url` through the Unix-domain socket PostgreSQL keeps in `dir` (`.s.PGSQL.<port>`). The URL keeps
 * a host for validators that want one; pg takes the `host` parameter over it.
 */
export function socketUrlOf(url: string, dir: string, port: number): string {
  const u = new URL(url);
  return `postgres://${u.username}@localhost:${port}${u.pathname}?host=${encodeURIComponent(dir)}`;
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

export function findPostgresBin(): string {
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (existsSync(join(dir, 'initdb'))) return dir;
  } catch {
    // not on PATH
  }
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(join(root, v, 'bin', 'initdb'))) return join(root, v, 'bin');
  }
  throw new Error('no PostgreSQL binaries (initdb) found: install PostgreSQL or use --postgres shared');
}

export async function startPrivatePostgres(options: { maxConnections?: number; statements?: boolean } = {}): Promise<PrivatePostgres> {
  const bin = findPostgresBin();
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'loadtest-pg-'));
  chmodSync(dir, 0o755);
  let uid: number | undefined;
  let gid: number | undefined;
  if (asRoot) {
    uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const run = (cmd: string, args: string[]) => {
    const full = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]] : [join(bin, cmd), args];
    const r = spawnSync(full[0] as string, full[1] as string[], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr || r.stdout}`);
    return r.stdout;
  };
  const data = join(dir, 'data');
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-instructions']);
  const port = await freePort();
  const opts = [`-p ${port}`, '-c listen_addresses=127.0.0.1', `-c unix_socket_directories=${dir}`, `-c max_connections=${options.maxConnections ?? 200}`,
    // --pg-statements: per-statement counts and times (the extension is created in the run's database).
    ...(options.statements ? ['-c shared_preload_libraries=pg_stat_statements', '-c pg_stat_statements.track=all'] : []),
  ].join(' ');
  run('pg_ctl', ['-D', data, '-o', opts, '-l', join(dir, 'postgres.log'), '-w', '-t', '120', 'start']);
  const version = run('postgres', ['--version']).trim();
  let stopped = false;
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    try {
      run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
    } catch {
      // already stopped
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', stopSync);
  return {
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    version,
    socketUrl: (url: string) => socketUrlOf(url, dir, port),
    async stop() {
      process.removeListener('exit', stopSync);
      stopSync();
    },
    keep() {
      process.removeListener('exit', stopSync);
    },
  };
}
