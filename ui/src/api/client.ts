/**
 * The one way the UI talks to the server: relative `/api/v1` URLs, bearer token, RFC 9457
 * problem documents turned into ApiError, and read-your-writes through `X-Min-Position`.
 */
import type { Problem } from './types.ts';

export const API_BASE = '/api/v1';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | null,
    readonly retryAfter: number | null = null,
  ) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
    this.name = 'ApiError';
  }

  /** Field errors by path ("price", "quantity", ...), when the server sent any. */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of this.problem?.errors ?? []) {
      const key = e.path.replace(/^\/?(body\.)?/, '').replace(/^\//, '');
      out[key] ??= e.message;
    }
    return out;
  }
}

export function isApiError(e: unknown, status?: number): e is ApiError {
  return e instanceof ApiError && (status === undefined || e.status === status);
}

/** A human sentence for any error a request may throw. */
export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 429) return `Too many requests; try again${e.retryAfter ? ` in ${e.retryAfter} s` : ' shortly'}.`;
    if (e.status >= 500) return 'The server had a problem; please try again.';
    const fields = e.problem?.errors?.map((x) => `${x.path}: ${x.message}`).join('; ');
    const base = e.problem?.detail ?? e.problem?.title ?? `Request failed (HTTP ${e.status})`;
    return fields ? `${base} (${fields})` : base;
  }
  if (e instanceof TypeError) return 'Cannot reach the server. Check your connection.';
  return e instanceof Error ? e.message : String(e);
}

export interface ApiHooks {
  /** Current bearer token, or null when signed out. */
  getToken(): string | null;
  /** Called when an authenticated request answers 401 (the session expired or was revoked). */
  onUnauthorized(): void;
}

let hooks: ApiHooks = { getToken: () => null, onUnauthorized: () => undefined };

export function configureApi(h: ApiHooks): void {
  hooks = h;
}

// ---- read-your-writes ----
let minPosition: string | null = null;

function positionGreater(a: string, b: string): boolean {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return BigInt(a) > BigInt(b);
  return a !== b;
}

/** Remembers the highest event position our own writes produced; the next reads wait for it. */
export function notePosition(position: string | number | null | undefined): void {
  if (position === null || position === undefined || position === '') return;
  const p = String(position);
  if (minPosition === null || positionGreater(p, minPosition)) minPosition = p;
}

export function currentMinPosition(): string | null {
  return minPosition;
}

export function resetMinPosition(): void {
  minPosition = null;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  body?: unknown;
  /** Send the bearer token (default true). Login and register do not. */
  auth?: boolean;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

async function readProblem(res: Response): Promise<Problem | null> {
  const text = await res.text().catch(() => '');
  if (!text) return null;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object') return parsed;
    return { detail: text };
  } catch {
    return { detail: text.slice(0, 200) };
  }
}

export async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const method = opts.method ?? 'GET';
  const auth = opts.auth ?? true;
  const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
  const token = auth ? hooks.getToken() : null;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (method === 'GET' && minPosition !== null) headers['X-Min-Position'] = minPosition;

  const init: RequestInit = { method, headers };
  if (opts.body !== undefined) init.body = JSON.stringify(opts.body);
  if (opts.signal) init.signal = opts.signal;
  const res = await fetch(`${API_BASE}${path}`, init);

  if (!res.ok) {
    const problem = await readProblem(res);
    if (res.status === 401 && token) hooks.onUnauthorized();
    const ra = res.headers.get('Retry-After');
    throw new ApiError(res.status, problem, ra && /^\d+$/.test(ra) ? Number(ra) : null);
  }

  const headerPosition = res.headers.get('X-Event-Position');
  if (res.status === 204) {
    notePosition(headerPosition);
    return undefined as T;
  }
  const text = await res.text();
  const data: unknown = text ? JSON.parse(text) : undefined;
  if (res.status === 202) {
    const bodyPosition =
      data && typeof data === 'object' && 'position' in data ? (data as { position: string | number }).position : null;
    notePosition(bodyPosition ?? headerPosition);
  }
  return data as T;
}
