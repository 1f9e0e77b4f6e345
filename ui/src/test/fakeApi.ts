/** A tiny in-test HTTP fake: routes by method and path, records every request. */
import { vi } from 'vitest';

export interface Recorded {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

export type Handler = (req: Recorded) => { status: number; body?: unknown; headers?: Record<string, string> };

export function installFakeApi(routes: Record<string, Handler>) {
  const requests: Recorded[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url, 'http://localhost');
    const method = init?.method ?? 'GET';
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries((init?.headers as Record<string, string> | undefined) ?? {})) headers[k.toLowerCase()] = v;
    const body: unknown = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined;
    const path = url.pathname.replace(/^\/api\/v1/, '') + url.search;
    const req: Recorded = { method, path, headers, body };
    requests.push(req);
    const key = Object.keys(routes).find((k) => {
      const [m, p] = k.split(' ');
      return m === method && p !== undefined && (path === p || path.split('?')[0] === p || (p.endsWith('*') && path.startsWith(p.slice(0, -1))));
    });
    const handler = key ? routes[key] : undefined;
    const res = handler ? handler(req) : { status: 404, body: { title: 'Not Found', status: 404 } };
    const ct = res.status >= 400 ? 'application/problem+json' : 'application/json';
    return new Response(res.body === undefined ? null : JSON.stringify(res.body), {
      status: res.status,
      headers: { 'Content-Type': ct, ...res.headers },
    });
  });
  vi.stubGlobal('fetch', fetchMock);
  return { requests, fetchMock };
}
