import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { envFields, parseServiceEnv, ServiceConfigError, stopOnSignals } from './service.ts';

const Env = z.object({
  DATABASE_URL: z.string().url(),
  READMODEL_SCHEMA: envFields.schemaName('readmodel'),
  PORT: envFields.port(8082),
  LOG_LEVEL: envFields.logLevel,
  JWT_SECRET: envFields.jwtSecret,
});

describe('parseServiceEnv', () => {
  it('applies defaults and coerces', () => {
    const env = parseServiceEnv('query-api', Env, { DATABASE_URL: 'postgres://127.0.0.1/test', JWT_SECRET: 'x'.repeat(32), PORT: '9000' });
    expect(env).toEqual({ DATABASE_URL: 'postgres://127.0.0.1/test', READMODEL_SCHEMA: 'readmodel', PORT: 9000, LOG_LEVEL: 'info', JWT_SECRET: 'x'.repeat(32) });
  });

  it('names every bad variable in one error', () => {
    let error: unknown;
    try {
      parseServiceEnv('query-api', Env, { DATABASE_URL: 'not a url', READMODEL_SCHEMA: 'x; drop table users', PORT: '70000', LOG_LEVEL: 'loud', JWT_SECRET: 'short' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ServiceConfigError);
    const problems = (error as ServiceConfigError).problems;
    expect(problems.map((p) => p.split(':')[0])).toEqual(['DATABASE_URL', 'READMODEL_SCHEMA', 'PORT', 'LOG_LEVEL', 'JWT_SECRET']);
    expect((error as Error).message).toMatch(/^query-api: invalid configuration:\n {2}DATABASE_URL: /);
    expect(problems.find((p) => p.startsWith('JWT_SECRET'))).toMatch(/at least 32 bytes/);
  });
});

describe('stopOnSignals', () => {
  function harness(stop: () => Promise<void>, timeoutMs = 1_000) {
    const source = new EventEmitter();
    const exits: number[] = [];
    const logs: string[] = [];
    let exited: () => void = () => undefined;
    const done = new Promise<void>((ok) => (exited = ok));
    stopOnSignals('svc', stop, {
      source,
      timeoutMs,
      log: (m) => logs.push(m),
      exit: (c) => {
        exits.push(c);
        exited();
      },
    });
    return { source, exits, logs, done };
  }

  it('stops once however many signals arrive, then exits 0', async () => {
    let stops = 0;
    let release: () => void = () => undefined;
    const h = harness(() => {
      stops += 1;
      return new Promise<void>((ok) => (release = ok));
    });
    h.source.emit('SIGTERM');
    h.source.emit('SIGINT');
    h.source.emit('SIGTERM');
    release();
    await h.done;
    expect(stops).toBe(1);
    expect(h.exits).toEqual([0]);
    expect(h.logs).toEqual(['svc: SIGTERM, stopping']);
  });

  it('exits 1 when stopping fails, saying why', async () => {
    const h = harness(() => Promise.reject(new Error('pool already ended')));
    h.source.emit('SIGINT');
    await h.done;
    expect(h.exits).toEqual([1]);
    expect(h.logs).toEqual(['svc: SIGINT, stopping', 'svc: shutdown failed: pool already ended']);
  });

  it('exits 1 when stopping outlives the deadline', async () => {
    const h = harness(() => new Promise<void>(() => undefined), 50);
    h.source.emit('SIGTERM');
    await h.done;
    expect(h.exits).toEqual([1]);
    expect(h.logs[1]).toBe('svc: still stopping after 50 ms, exiting');
  });
});
