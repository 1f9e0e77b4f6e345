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
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
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

/** The code a new thread runs: loads the entry, through tsx when this module runs from TypeScript source. */
function bootstrap(): string | undefined {
  const here = import.meta.url;
  const entry = new URL(here.endsWith('.ts') ? './verify-thread-entry.ts' : './verify-thread-entry.js', here).href;
  if (!here.endsWith('.ts')) return `import(${JSON.stringify(entry)})`;
  const tsx = tsxEsmApi(here);
  if (tsx === undefined) return undefined;
  return `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
}

/**
 * tsx's ESM register API as a file URL. Its package exports it under 'import' and 'require'
 * conditions; createRequire would resolve the CommonJS build, whose register() then fails to find
 * its own hooks module, so the 'import' target is read from the package's exports.
 */
function tsxEsmApi(from: string): string | undefined {
  try {
    const manifestPath = createRequire(from).resolve('tsx/package.json');
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
  static start(): Promise<PartThread | undefined> {
    const code = bootstrap();
    if (code === undefined) return Promise.resolve(undefined);
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
