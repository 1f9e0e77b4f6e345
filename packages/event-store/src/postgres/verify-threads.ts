/**
 * Worker threads for verifyLog's position walk. Node's part of verifying (COPY framing, canonical
 * JSON, SHA-256) is CPU-bound on one thread, about as much CPU per event as PostgreSQL's; parts of
 * the position range read by worker threads, each on its own connection in the walk's exported
 * snapshot, put that work on the other cores. A thread posts back only the part's outcome
 * (PartResultData: stream states, seal digests), never events.
 *
 * Threads are an optimisation: when one cannot start (no connection settings that can be handed
 * to another thread, e.g. a password callback; the TypeScript loader not found), its part is read
 * on this thread exactly as before.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { threadId, Worker } from 'node:worker_threads';
import type pg from 'pg';
import { partFromData, type PartJob, type PartResult, type PartResultData } from './verify-position.ts';

export type ToThread =
  | { type: 'job'; config: pg.ClientConfig; snapshot: string; job: PartJob; progressEvery: number }
  | { type: 'stop' };

export type FromThread =
  | { type: 'ready' }
  | { type: 'progress'; events: number; anomaly: boolean }
  | { type: 'done'; result: PartResultData }
  | { type: 'error'; message: string; stack?: string | undefined };

/** Connection settings a pool was made with, if all of them can be handed to another thread. */
export function threadConnectionConfig(pool: pg.Pool): pg.ClientConfig | undefined {
  const options = (pool as unknown as { options?: Record<string, unknown> }).options ?? {};
  if (options.stream !== undefined || typeof options.password === 'function') return undefined;
  const keys = [
    'connectionString',
    'host',
    'port',
    'user',
    'password',
    'database',
    'ssl',
    'application_name',
    'fallback_application_name',
    'options',
    'client_encoding',
    'keepAlive',
    'connectionTimeoutMillis',
  ];
  const config: Record<string, unknown> = {};
  for (const k of keys) if (options[k] !== undefined) config[k] = options[k];
  try {
    structuredClone(config);
  } catch {
    return undefined;
  }
  return config;
}

/**
 * The code a new thread runs. From TypeScript source (how this workspace runs) a thread cannot load
 * .ts files by itself, and registering tsx's loader in it costs about half a second of CPU and a
 * second of wall time per thread: as long as reading a few hundred thousand events. So the entry
 * and what it imports are bundled once into plain JavaScript with esbuild (tsx's own dependency),
 * cached under this package's node_modules/.cache by a hash of the sources, and a thread loads that
 * in tens of milliseconds. Without esbuild or a writable cache, tsx's loader is registered instead.
 */
export async function threadBootstrap(): Promise<string | undefined> {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return `import(${JSON.stringify(new URL('./verify-thread-entry.js', here).href)})`;
  const bundle = await bundledEntry(here).catch(() => undefined);
  if (bundle !== undefined) return `require(${JSON.stringify(bundle)})`;
  const tsx = tsxManifest(here);
  const api = tsx === undefined ? undefined : tsxEsmApi(tsx);
  if (api === undefined) return undefined;
  const entry = new URL('./verify-thread-entry.ts', here).href;
  return `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
}

let bundling: Promise<string> | undefined;

/** The path of the bundled thread entry (CommonJS), built when the sources changed. */
function bundledEntry(here: string): Promise<string> {
  bundling ??= (async () => {
    const tsx = tsxManifest(here);
    if (tsx === undefined) throw new Error('tsx not found');
    const esbuild = createRequire(tsx)('esbuild') as {
      version: string;
      build(options: Record<string, unknown>): Promise<unknown>;
    };
    const srcDir = fileURLToPath(new URL('../', here));
    const sources = readdirSync(srcDir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
      .sort();
    const digest = createHash('sha256').update(esbuild.version);
    for (const f of sources) digest.update(f).update(readFileSync(join(srcDir, f)));
    // under the package's node_modules, so that the bundle's require('pg') finds this package's pg
    const cacheDir = fileURLToPath(new URL('../../node_modules/.cache/verify-thread/', here));
    const file = join(cacheDir, `${digest.digest('hex').slice(0, 24)}.cjs`);
    if (existsSync(file)) return file;
    mkdirSync(cacheDir, { recursive: true });
    const partial = `${file}.${process.pid}.${threadId}.tmp`;
    await esbuild.build({
      entryPoints: [fileURLToPath(new URL('./verify-thread-entry.ts', here))],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external: ['pg', 'pg-native'],
      outfile: partial,
      logLevel: 'silent',
    });
    renameSync(partial, file);
    for (const old of readdirSync(cacheDir)) if (old.endsWith('.cjs') && join(cacheDir, old) !== file) rmSync(join(cacheDir, old), { force: true });
    return file;
  })();
  return bundling;
}

function tsxManifest(from: string): string | undefined {
  try {
    return createRequire(from).resolve('tsx/package.json');
  } catch {
    return undefined;
  }
}

/**
 * tsx's ESM register API as a file URL. Its package exports it under 'import' and 'require'
 * conditions; createRequire would resolve the CommonJS build, whose register() then fails to find
 * its own hooks module, so the 'import' target is read from the package's exports.
 */
function tsxEsmApi(manifestPath: string): string | undefined {
  try {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { exports?: Record<string, unknown> };
    const entry = manifest.exports?.['./esm/api'] as { import?: string | { default?: string } } | undefined;
    const target = typeof entry?.import === 'string' ? entry.import : entry?.import?.default;
    return target === undefined ? undefined : new URL(target, pathToFileURL(manifestPath)).href;
  } catch {
    return undefined;
  }
}

/** One worker thread that reads one part. */
export class PartThread {
  private constructor(private readonly worker: Worker) {}

  /** A thread that has loaded its code, or undefined when none could start. */
  static async start(): Promise<PartThread | undefined> {
    const code = await threadBootstrap();
    if (code === undefined) return undefined;
    return new Promise((resolve) => {
      const worker = new Worker(code, { eval: true });
      const fail = (): void => {
        void worker.terminate();
        resolve(undefined);
      };
      worker.once('error', fail);
      worker.once('exit', fail);
      worker.once('message', (msg: FromThread) => {
        worker.off('error', fail);
        worker.off('exit', fail);
        if (msg.type === 'ready') resolve(new PartThread(worker));
        else fail();
      });
    });
  }

  /** Reads `job`; `onEvents` gets the count of events checked as it goes (and whether the part found something). */
  run(config: pg.ClientConfig, snapshot: string, job: PartJob, progressEvery: number, onEvents: (events: number, anomaly: boolean) => void): Promise<PartResult> {
    const worker = this.worker;
    return new Promise<PartResult>((resolve, reject) => {
      let settled = false;
      const settle = (err: Error | undefined, result?: PartResult): void => {
        if (settled) return;
        settled = true;
        worker.removeAllListeners();
        void worker.terminate();
        if (err) reject(err);
        else resolve(result as PartResult);
      };
      worker.on('message', (msg: FromThread) => {
        if (msg.type === 'progress') onEvents(msg.events, msg.anomaly);
        else if (msg.type === 'done') settle(undefined, partFromData(msg.result));
        else if (msg.type === 'error') {
          const err = new Error(msg.message);
          if (msg.stack !== undefined) err.stack = msg.stack;
          settle(err);
        }
      });
      worker.on('error', (err) => settle(err));
      worker.on('exit', (code) => settle(new Error(`verifyLog: a worker thread exited (code ${code}) before its part was read`)));
      worker.postMessage({ type: 'job', config, snapshot, job, progressEvery } satisfies ToThread);
    });
  }

  /** Another part found something: this one only drains the rest. */
  stop(): void {
    this.worker.postMessage({ type: 'stop' } satisfies ToThread);
  }

  /** Not used after all (e.g. the walk ended early). */
  dispose(): void {
    this.worker.removeAllListeners();
    void this.worker.terminate();
  }
}
