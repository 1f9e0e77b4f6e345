/**
 * The live connection: one EventSource on /api/v1/stream (token in `access_token`, since an
 * EventSource cannot send headers). Messages go into the query cache; every (re)connect and
 * every detected gap refetches the active read models.
 */
import type { QueryClient } from '@tanstack/react-query';
import { API_BASE } from './client.ts';
import { applyStreamMessage, createInvalidator, type StreamEventType } from './cache.ts';

export type ConnectionStatus = 'connecting' | 'live' | 'reconnecting' | 'offline';

export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((this: EventSource, ev: Event) => unknown) | null;
  onerror: ((this: EventSource, ev: Event) => unknown) | null;
  addEventListener(type: string, listener: (ev: MessageEvent<string>) => void): void;
  close(): void;
}

export interface LiveStreamOptions {
  queryClient: QueryClient;
  getToken(): string | null;
  /** True when the session's token has expired (the stream then stops instead of retrying). */
  isExpired(): boolean;
  onExpired(): void;
  onStatus(status: ConnectionStatus): void;
  /** For tests: an EventSource implementation. */
  EventSourceImpl?: new (url: string) => EventSourceLike;
  /** Debounce for invalidations caused by partial messages (ms). */
  invalidateDelayMs?: number;
}

const EVENT_TYPES: readonly StreamEventType[] = ['book', 'trade', 'order', 'portfolio'];
/** Event names a server may use to say "you missed something". */
const RESYNC_EVENTS = ['gap', 'reset', 'resync'];
const CLOSED = 2;

export class LiveStream {
  private es: EventSourceLike | null = null;
  private status: ConnectionStatus = 'offline';
  private lastId: bigint | null = null;
  private retry = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private readonly invalidate;

  constructor(private readonly opts: LiveStreamOptions) {
    this.invalidate = createInvalidator(opts.queryClient, opts.invalidateDelayMs ?? 150);
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.es?.close();
    this.es = null;
    this.setStatus('offline');
  }

  /** Reconnect now (e.g. the browser came back online). */
  reconnectNow(): void {
    if (this.stopped) return;
    this.es?.close();
    this.es = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }

  /** Refetch everything on screen: called on every (re)connect and on a gap. */
  resync(): void {
    void this.opts.queryClient.invalidateQueries({ refetchType: 'active' }, { cancelRefetch: false });
  }

  private setStatus(s: ConnectionStatus): void {
    if (s === this.status) return;
    this.status = s;
    this.opts.onStatus(s);
  }

  private connect(): void {
    const token = this.opts.getToken();
    if (!token || this.opts.isExpired()) {
      this.setStatus('offline');
      if (token) this.opts.onExpired();
      return;
    }
    const Impl: new (url: string) => EventSourceLike = this.opts.EventSourceImpl ?? EventSource;
    this.setStatus(this.retry === 0 && this.lastId === null ? 'connecting' : 'reconnecting');
    const es = new Impl(`${API_BASE}/stream?access_token=${encodeURIComponent(token)}`);
    this.es = es;
    es.onopen = () => {
      if (this.es !== es) return;
      this.retry = 0;
      this.setStatus('live');
      // Whatever happened while we were not connected (or before the first connect) is refetched.
      this.resync();
    };
    es.onerror = () => {
      if (this.es !== es || this.stopped) return;
      if (es.readyState === CLOSED) {
        // The browser gave up (e.g. 401 or a non-stream answer): retry ourselves with backoff.
        es.close();
        this.es = null;
        if (this.opts.isExpired()) {
          this.setStatus('offline');
          this.opts.onExpired();
          return;
        }
        this.retry += 1;
        this.setStatus('reconnecting');
        const delay = Math.min(30_000, 500 * 2 ** Math.min(this.retry, 6));
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          if (!this.stopped) this.connect();
        }, delay);
      } else {
        // The browser reconnects by itself (sending Last-Event-ID); onopen resyncs.
        this.setStatus('reconnecting');
      }
    };
    for (const type of EVENT_TYPES) es.addEventListener(type, (ev) => this.onMessage(es, type, ev));
    for (const type of RESYNC_EVENTS) es.addEventListener(type, () => this.resync());
    // Unnamed messages carrying their type inside.
    es.addEventListener('message', (ev) => {
      const parsed = this.parse(ev.data);
      const t = parsed && typeof parsed === 'object' && 'type' in parsed ? parsed.type : null;
      if (typeof t === 'string' && (EVENT_TYPES as readonly string[]).includes(t)) this.onMessage(es, t as StreamEventType, ev);
      else if (typeof t === 'string' && RESYNC_EVENTS.includes(t)) this.resync();
    });
  }

  private parse(data: string): unknown {
    try {
      return JSON.parse(data) as unknown;
    } catch {
      return null;
    }
  }

  private onMessage(es: EventSourceLike, type: StreamEventType, ev: MessageEvent<string>): void {
    if (this.es !== es) return;
    const id = ev.lastEventId;
    if (id && /^\d+$/.test(id)) {
      const position = BigInt(id);
      // Positions only grow; going backwards means the server's log was reset: start over.
      if (this.lastId !== null && position < this.lastId) this.resync();
      this.lastId = position;
    }
    const data = this.parse(ev.data);
    if (data === null) {
      this.invalidate(type === 'portfolio' ? ['portfolio'] : type === 'order' ? ['orders'] : type === 'book' ? ['book'] : ['marketTrades']);
      return;
    }
    applyStreamMessage(this.opts.queryClient, type, data, this.invalidate);
  }
}
