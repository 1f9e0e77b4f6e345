/**
 * Keep-alive HTTP to one origin (undici Pool): JSON in, JSON out, the body always consumed.
 * Load goes to loopback only: any other host is refused.
 */
import { Pool } from 'undici';

export interface Answer<T = unknown> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

export interface HttpClient {
  call<T = unknown>(method: string, path: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<Answer<T>>;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

export function assertLoopback(url: string): URL {
  const u = new URL(url);
  if (!LOOPBACK.has(u.hostname)) throw new Error(`load goes to loopback only; refusing ${u.hostname}`);
  if (u.protocol !== 'http:') throw new Error(`plain http on loopback only; refusing ${u.protocol}`);
  return u;
}

export function httpClient(url: string, options: { connections?: number; timeoutMs?: number } = {}): HttpClient {
  const u = assertLoopback(url);
  const pool = new Pool(u.origin, {
    connections: options.connections ?? 64,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: options.timeoutMs ?? 30_000,
    bodyTimeout: options.timeoutMs ?? 30_000,
  });
  return {
    async call(method, path, o = {}) {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      if (o.token) headers.authorization = `Bearer ${o.token}`;
      let payload: string | undefined;
      if (o.body !== undefined) {
        headers['content-type'] = 'application/json';
        payload = JSON.stringify(o.body);
      }
      const res = await pool.request({ method: method, path, headers, body: payload });
      const text = await res.body.text();
      let body: unknown = null;
      if (text) {
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
      }
      return { status: res.statusCode, body: body as never, headers: res.headers };
    },
    async close() {
      await pool.close();
    },
  };
}

/** Retries a call answered 429 after its Retry-After (bounded), e.g. logins under a per-minute limit. */
export async function withRetryAfter<T>(attempt: () => Promise<Answer<T>>, maxWaitMs = 120_000): Promise<Answer<T>> {
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    const a = await attempt();
    if (a.status !== 429 || Date.now() > deadline) return a;
    const ra = Number(a.headers['retry-after'] ?? 1);
    await new Promise((r) => setTimeout(r, Math.min(60_000, Math.max(200, (Number.isFinite(ra) ? ra : 1) * 1000))));
  }
}
