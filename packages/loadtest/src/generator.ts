/**
 * The load generator: runs in its own process (forked by the orchestrator, plan and reports over
 * IPC) or in-process for tests of its parts. Setup (admin login, markets, traders registered,
 * funded and logged in once each), then an open-loop schedule: commands are due at the target
 * rate whatever the answers, a command's latency runs from the time it was due (so a slow server
 * is not hidden by a slow client: no coordinated omission), at most `maxInflight` are in flight,
 * and a backlog beyond one second of load is shed (counted). Then an optional drain (every order
 * the traders still know about is cancelled), and a final report.
 */
import pg from 'pg';
import { priceToTicks } from '@tradecore/core-domain';
import { Histogram } from './histogram.ts';
import { httpClient, withRetryAfter, type Answer, type HttpClient } from './http.ts';
import { DEFAULT_MIX, PriceWalk, applyAccepted, applySent, decide, rolesFor, type Decision, type MarketPlan, type MixConfig, type TraderState } from './mix.ts';
import { createRng, type Rng } from './prng.ts';
import { judgeStep, shouldStop, type Judged } from './ramp.ts';
import { DEFAULT_MARKETS, type DoneMessage, type GeneratorMessage, type GeneratorPlan, type AnswerKind, type Kind, type MarketListing, type StepTotals } from './protocol.ts';

interface Trader {
  state: TraderState;
  rng: Rng;
  userId: number;
  token: string;
  username: string;
}

const PASSWORD = 'loadtest-password-not-secret';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function zeroKinds(): Record<Kind, number> {
  return { place: 0, amend: 0, cancel: 0 };
}

/** Runs `fn` over `items` with at most `concurrency` at a time; rejects on the first failure. */
export async function mapLimit<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return out;
}

function expect<T>(a: Answer<T>, status: number, what: string): T {
  if (a.status !== status) throw new Error(`${what}: HTTP ${a.status} ${JSON.stringify(a.body).slice(0, 300)}`);
  return a.body;
}

export function listingsFor(count: number, runTag: string, plain: boolean): MarketListing[] {
  const out: MarketListing[] = [];
  for (let i = 0; i < count; i++) {
    const base = DEFAULT_MARKETS[i] ?? { symbol: `M${i}-USD`, baseAsset: `M${i}X`, quoteAsset: 'USD', tickSize: '0.01', lotSize: '0.01', referencePrice: '100.00' };
    if (plain) {
      out.push(base);
      continue;
    }
    const tag = runTag.toUpperCase().replace(/[^A-Z0-9]/g, '').slice(0, 12 - base.baseAsset.length);
    out.push({ ...base, symbol: `${base.baseAsset}${tag}-${base.quoteAsset}` });
  }
  return out;
}

export async function setup(plan: GeneratorPlan, http: HttpClient, log: (t: string) => void): Promise<{ traders: Trader[]; markets: MarketPlan[]; adminToken: string }> {
  const login = async (username: string, password: string) => {
    const a = await withRetryAfter(() => http.call<{ token: string; user: { userId: number } }>('POST', '/api/v1/auth/login', { body: { username, password } }));
    const b = expect(a, 200, `login ${username}`);
    return { token: b.token, userId: b.user.userId };
  };
  const admin = await login(plan.admin.username, plan.admin.password);
  const markets: MarketPlan[] = [];
  for (const l of listingsFor(plan.markets, plan.runTag, plan.plainSymbols)) {
    const a = await http.call<{ marketId: number }>('POST', '/api/v1/admin/markets', { token: admin.token, body: l });
    const { marketId } = expect(a, 201, `list market ${l.symbol}`);
    markets.push({
      marketId,
      symbol: l.symbol,
      baseAsset: l.baseAsset,
      quoteAsset: l.quoteAsset,
      tickSize: l.tickSize,
      lotSize: l.lotSize,
      referenceTicks: Number(priceToTicks(l.referencePrice, l.tickSize)),
    });
  }
  log(`listed ${markets.map((m) => `${m.symbol}#${m.marketId}`).join(', ')}`);
  const mix = { ...DEFAULT_MIX, ...(plan.mix ?? {}) };
  const roles = rolesFor(plan.traders, mix.makerShare);
  const root = createRng(plan.seed);
  const names = Array.from({ length: plan.traders }, (_, i) => `lt_${plan.runTag}_${i}`.slice(0, 32));
  await mapLimit(names, plan.setupConcurrency, async (username) => {
    const a = await withRetryAfter(() => http.call('POST', '/api/v1/auth/register', { body: { username, password: PASSWORD } }));
    if (a.status !== 201 && a.status !== 409) expect(a, 201, `register ${username}`);
  });
  log(`registered ${names.length} traders`);
  const sessions = await mapLimit(names, plan.setupConcurrency, (username) => login(username, PASSWORD));
  log(`${sessions.length} traders logged in`);
  const assets = [...new Set(markets.flatMap((m) => [m.quoteAsset, m.baseAsset]))];
  const quotes = new Set(markets.map((m) => m.quoteAsset));
  // One account's deposits one after the other (as one admin funding one account would); accounts
  // in parallel. Concurrent deposits to one account make the event store record revisions out of
  // global-position order, which `tradectl verify` reports as `reordered` (see docs/performance.md).
  await mapLimit(sessions, plan.setupConcurrency * 4, async (s) => {
    for (const asset of assets) {
      const body = { userId: s.userId, asset, amount: quotes.has(asset) ? plan.deposit.quote : plan.deposit.base };
      const a = await withRetryAfter(() => http.call('POST', '/api/v1/admin/deposits', { token: admin.token, body }));
      expect(a, 202, `deposit ${body.amount} ${asset} to ${s.userId}`);
    }
  });
  log(`${sessions.length * assets.length} deposits`);
  const traders: Trader[] = sessions.map((s, i) => ({
    state: { index: i, role: roles[i]!, orders: [] },
    rng: root.fork(`trader-${i}`),
    userId: s.userId,
    token: s.token,
    username: names[i]!,
  }));
  return { traders, markets, adminToken: admin.token };
}

/**
 * How long to wait before the next read of an order whose lag is being measured: 10 ms (the plan's
 * poll interval) for the first 200 ms, then 25 ms up to 1 s, 50 ms up to 5 s, 100 ms beyond — a
 * resolution within about 12 % of the lag, at a bounded number of reads per sample.
 */
export function pollDelay(elapsedMs: number, baseMs: number): number {
  if (elapsedMs < 200) return baseMs;
  if (elapsedMs < 1_000) return Math.max(baseMs, 25);
  if (elapsedMs < 5_000) return Math.max(baseMs, 50);
  return Math.max(baseMs, 100);
}

const READMODEL_CHANNEL = 'tradecore_readmodel';

interface PositionWaiter {
  position: bigint;
  at: number;
  step: number;
}

/** Min-heap of 202s by position: a notification resolves the smallest positions first. */
export class PositionHeap {
  private readonly items: PositionWaiter[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): PositionWaiter | undefined {
    return this.items[0];
  }

  push(w: PositionWaiter): void {
    const a = this.items;
    a.push(w);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]!.position <= a[i]!.position) break;
      [a[parent], a[i]] = [a[i]!, a[parent]!];
      i = parent;
    }
  }

  pop(): PositionWaiter | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]!.position < a[m]!.position) m = l;
        if (r < a.length && a[r]!.position < a[m]!.position) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

class StepAcc {
  offered = 0;
  sent = 0;
  shed = 0;
  accepted = zeroKinds();
  conflicts = 0;
  errors = 0;
  statuses: Record<string, number> = {};
  latency = new Histogram();
  service = new Histogram();
  latencyByAnswer: Record<AnswerKind, Histogram> = { place: new Histogram(), amend: new Histogram(), cancel: new Histogram(), refused: new Histogram() };
  lag = new Histogram();
  lagTimeouts = 0;
  /** 202 → the projection's commit of that position (every 202, LISTEN). */
  logLag = new Histogram();
  seconds = 0;
}

class WindowAcc {
  offered = 0;
  sent = 0;
  shed = 0;
  accepted = zeroKinds();
  statuses: Record<string, number> = {};
  latency = new Histogram();
  lag = new Histogram();
  lagTimeouts = 0;
  logLag = new Histogram();
}

interface LagSample {
  orderId: string;
  token: string;
  at: number;
  step: number;
}

export async function runGenerator(plan: GeneratorPlan, send: (m: GeneratorMessage) => void): Promise<DoneMessage> {
  const log = (text: string) => send({ type: 'log', text });
  const http = httpClient(plan.url, { connections: plan.connections });
  const setupStart = performance.now();
  const { traders, markets } = await setup(plan, http, log);
  const mix: MixConfig = { ...DEFAULT_MIX, ...(plan.mix ?? {}) };

  // Where to observe the read models: the query API when it answers, else the database.
  let lagSource: 'http' | 'db' | 'off' = 'off';
  if (plan.lagSource !== 'off' && plan.lagSample !== 0) {
    const probe = await http.call('GET', '/api/v1/orders?status=open', { token: traders[0]!.token });
    if (plan.lagSource === 'http' || (plan.lagSource === 'auto' && probe.status === 200)) lagSource = 'http';
    else if (plan.databaseUrl) lagSource = 'db';
    if (plan.lagSource === 'auto' && probe.status !== 200) log(`GET /api/v1/orders answers ${probe.status}: read-model lag ${lagSource === 'db' ? 'observed in the database' : 'not measured'}`);
  }
  const lagFraction = plan.lagSample >= 0 ? plan.lagSample : lagSource === 'http' ? 0.01 : 0.05;
  send({ type: 'setup-done', userIds: traders.map((t) => t.userId), markets, setupMs: Math.round(performance.now() - setupStart), lagSource });

  const walk = new PriceWalk(markets, mix);
  const sched = createRng(`${plan.seed}/scheduler`);
  const lagRng = createRng(`${plan.seed}/lag`);
  const steps = plan.schedule.map(() => new StepAcc());
  let win = new WindowAcc();
  const totals = { accepted: zeroKinds(), drainAccepted: 0, drainOther: {} as Record<string, number>, errors: 0, conflicts: 0 };
  const errorSamples: string[] = [];
  const decisionsByTag: Record<string, number> = {};
  let inflight = 0;
  let backlog = 0;
  let currentStep = 0;
  const loadStart = performance.now();
  let cpu = process.cpuUsage();

  // ---- read-model lag probes ----
  const lagPending = new Map<string, LagSample>();
  let lagOutstanding = 0;
  let lagSkipped = 0;
  let lagReads = 0;
  const recordLag = (s: LagSample, ms: number, timedOut: boolean) => {
    const step = steps[s.step]!;
    step.lag.recordMs(ms);
    win.lag.recordMs(ms);
    if (timedOut) {
      step.lagTimeouts++;
      win.lagTimeouts++;
    }
  };
  const pollHttp = async (s: LagSample) => {
    lagOutstanding++;
    try {
      for (;;) {
        await sleep(pollDelay(performance.now() - s.at, plan.lagPollMs));
        const waited = performance.now() - s.at;
        if (waited > plan.lagTimeoutMs) return recordLag(s, waited, true);
        try {
          lagReads++;
          const a = await http.call<{ status?: string }>('GET', `/api/v1/orders/${s.orderId}`, { token: s.token });
          if (a.status === 200 && a.body.status && a.body.status !== 'pending') return recordLag(s, performance.now() - s.at, false);
        } catch {
          // keep polling until the timeout
        }
      }
    } finally {
      lagOutstanding--;
    }
  };
  let db: pg.Pool | undefined;
  let dbTimer: NodeJS.Timeout | undefined;
  if (lagSource === 'db' && plan.databaseUrl) {
    db = new pg.Pool({ connectionString: plan.databaseUrl, max: 1 });
    let busy = false;
    dbTimer = setInterval(() => {
      if (busy || lagPending.size === 0) return;
      busy = true;
      const ids = [...lagPending.keys()];
      db!
        .query<{ order_id: string }>(`select order_id from readmodel.orders where order_id = any($1::text[]) and status <> 'pending'`, [ids])
        .then((r) => {
          const now = performance.now();
          for (const row of r.rows) {
            const s = lagPending.get(row.order_id);
            if (s) {
              lagPending.delete(row.order_id);
              recordLag(s, now - s.at, false);
            }
          }
          for (const [id, s] of lagPending) {
            if (now - s.at > plan.lagTimeoutMs) {
              lagPending.delete(id);
              recordLag(s, now - s.at, true);
            }
          }
        })
        .catch(() => undefined)
        .finally(() => {
          busy = false;
        });
    }, plan.lagPollMs);
  }
  // ---- log → read-model lag of every 202: the answer's position against the projection's NOTIFY ----
  // The projector notifies (channel tradecore_readmodel) with its checkpoint after each committed
  // batch, so the first notification at or past a 202's position is when the read models hold
  // that command's event. No polling: every accepted command is a sample, and the server does no
  // extra work for it.
  const positionWaiters = new PositionHeap();
  let projected = -1n;
  let listener: pg.Client | undefined;
  const recordLogLag = (step: number, ms: number) => {
    steps[step]!.logLag.recordMs(ms);
    win.logLag.recordMs(ms);
  };
  if (plan.databaseUrl) {
    try {
      const client = new pg.Client({ connectionString: plan.databaseUrl });
      client.on('error', () => undefined);
      await client.connect();
      client.on('notification', (n) => {
        if (n.channel !== READMODEL_CHANNEL || !n.payload) return;
        let position: bigint;
        try {
          const note = JSON.parse(n.payload) as { schema?: unknown; position?: unknown };
          if (note.schema !== 'readmodel' || typeof note.position !== 'string') return;
          position = BigInt(note.position);
        } catch {
          return;
        }
        if (position <= projected) return;
        projected = position;
        const now = performance.now();
        for (let w = positionWaiters.peek(); w && w.position <= projected; w = positionWaiters.peek()) {
          positionWaiters.pop();
          recordLogLag(w.step, now - w.at);
        }
      });
      await client.query(`listen ${READMODEL_CHANNEL}`);
      listener = client;
    } catch (err) {
      log(`log → read-model lag not measured: ${(err as Error).message}`);
    }
  }
  const watchPosition = (position: unknown, at: number, step: number) => {
    if (!listener || typeof position !== 'number' || !Number.isSafeInteger(position)) return;
    const p = BigInt(position);
    // Already projected when the answer arrived (a fast read side): no lag to speak of.
    if (p <= projected) recordLogLag(step, 0);
    else positionWaiters.push({ position: p, at, step });
  };

  const sampleLag = (orderId: string, token: string, at: number, step: number) => {
    if (lagSource === 'off' || !lagRng.chance(lagFraction)) return;
    const s = { orderId, token, at, step };
    if (lagSource === 'http') {
      // Bounded polling load: while `lagMaxProbes` orders are being watched, new samples are skipped.
      if (lagOutstanding >= plan.lagMaxProbes) {
        lagSkipped++;
        return;
      }
      void pollHttp(s);
    } else {
      lagPending.set(orderId, s);
    }
  };

  // ---- reports ----
  const report = () => {
    const used = process.cpuUsage(cpu);
    cpu = process.cpuUsage();
    send({
      type: 'window',
      t: Math.round((performance.now() - loadStart) / 100) / 10,
      step: currentStep,
      offered: win.offered,
      sent: win.sent,
      shed: win.shed,
      accepted: win.accepted,
      statuses: win.statuses,
      latency: win.latency.toJSON(),
      lag: win.lag.toJSON(),
      logLag: win.logLag.toJSON(),
      lagTimeouts: win.lagTimeouts,
      inflight,
      backlog,
      cpuMs: Math.round((used.user + used.system) / 1000),
      rssBytes: process.memoryUsage.rss(),
    });
    win = new WindowAcc();
  };
  const reporter = setInterval(report, plan.reportEveryMs);

  // ---- one command ----
  const requestOf = (d: Decision): { method: string; path: string; body?: unknown } => {
    switch (d.kind) {
      case 'place':
        return { method: 'POST', path: '/api/v1/orders', body: d.body };
      case 'amend':
        return { method: 'PATCH', path: `/api/v1/orders/${d.orderId}`, body: d.body };
      case 'cancel':
        return { method: 'DELETE', path: `/api/v1/orders/${d.orderId}` };
    }
  };
  const issue = (stepIndex: number, due: number) => {
    const trader = traders[sched.int(0, traders.length - 1)]!;
    const d = decide(trader.state, walk, trader.rng, mix);
    const tag = d.kind === 'place' ? `place:${d.tag}` : d.kind === 'cancel' ? `cancel:${d.reason}` : 'amend';
    decisionsByTag[tag] = (decisionsByTag[tag] ?? 0) + 1;
    applySent(trader.state, d);
    const step = steps[stepIndex]!;
    step.sent++;
    win.sent++;
    inflight++;
    const sentAt = performance.now();
    const r = requestOf(d);
    const settle = (status: string, body: unknown) => {
      const now = performance.now();
      step.latency.recordMs(now - due);
      step.service.recordMs(now - sentAt);
      win.latency.recordMs(now - due);
      step.statuses[status] = (step.statuses[status] ?? 0) + 1;
      win.statuses[status] = (win.statuses[status] ?? 0) + 1;
      if (status === '202') {
        step.latencyByAnswer[d.kind].recordMs(now - due);
        step.accepted[d.kind]++;
        win.accepted[d.kind]++;
        totals.accepted[d.kind]++;
        const orderId = (body as { orderId?: string } | null)?.orderId ?? null;
        applyAccepted(trader.state, d, orderId);
        watchPosition((body as { position?: unknown } | null)?.position, now, stepIndex);
        if (d.kind === 'place' && orderId) sampleLag(orderId, trader.token, now, stepIndex);
      } else if (status === '409') {
        step.latencyByAnswer.refused.recordMs(now - due);
        step.conflicts++;
        totals.conflicts++;
      } else {
        step.errors++;
        totals.errors++;
        if (errorSamples.length < 20) errorSamples.push(`${r.method} ${r.path} → ${status} ${JSON.stringify(body).slice(0, 300)}`);
      }
    };
    http
      .call(r.method, r.path, { token: trader.token, ...(r.body !== undefined ? { body: r.body } : {}) })
      .then(
        (a) => settle(String(a.status), a.body),
        (err: unknown) => settle('network', String(err)),
      )
      .finally(() => {
        inflight--;
      });
  };

  // ---- the schedule ----
  const judged: Judged[] = [];
  let skippedSteps = 0;
  for (let si = 0; si < plan.schedule.length; si++) {
    const s = plan.schedule[si]!;
    currentStep = si;
    send({ type: 'step', index: si, label: s.label, rate: s.rate });
    const acc = steps[si]!;
    const start = performance.now();
    const interval = 1000 / s.rate;
    const total = Math.floor((s.durationMs * s.rate) / 1000);
    const maxBacklog = Math.max(50, Math.ceil(s.rate));
    let done = 0; // issued or shed
    let counted = 0; // due so far (offered)
    for (;;) {
      const now = performance.now();
      const elapsed = now - start;
      const due = Math.min(total, Math.floor(elapsed / interval) + 1);
      if (due > counted) {
        acc.offered += due - counted;
        win.offered += due - counted;
        counted = due;
      }
      let pending = due - done;
      if (pending > maxBacklog) {
        const shed = pending - maxBacklog;
        acc.shed += shed;
        win.shed += shed;
        done += shed;
        pending = maxBacklog;
      }
      while (pending > 0 && inflight < plan.maxInflight) {
        issue(si, start + done * interval);
        done++;
        pending--;
      }
      backlog = pending;
      if (done >= total || elapsed >= s.durationMs) break;
      await sleep(1);
    }
    if (counted < total) {
      acc.offered += total - counted;
      win.offered += total - counted;
    }
    if (done < total) {
      acc.shed += total - done;
      win.shed += total - done;
    }
    acc.seconds = (performance.now() - start) / 1000;
    judged.push(
      judgeStep(
        {
          rate: s.rate,
          seconds: acc.seconds,
          offered: acc.offered,
          // what was answered by the end of the step (requests still in flight count as not accepted yet)
          accepted: acc.accepted.place + acc.accepted.amend + acc.accepted.cancel + acc.conflicts,
          errors: acc.errors,
          p99Ms: acc.latency.count ? acc.latency.percentileMs(99) : null,
          lagP99Ms: acc.lag.count ? acc.lag.percentileMs(99) : null,
        },
        plan.criteria,
      ),
    );
    if (si + 1 < plan.schedule.length && shouldStop(judged, plan.stopAfterFailures)) {
      skippedSteps = plan.schedule.length - si - 1;
      log(`${plan.stopAfterFailures} failing steps in a row (${judged[judged.length - 1]!.reasons.join('; ')}): skipping the last ${skippedSteps} steps`);
      break;
    }
  }
  backlog = 0;
  const loadSeconds = (performance.now() - loadStart) / 1000;
  const waitUntil = async (cond: () => boolean, ms: number) => {
    const deadline = performance.now() + ms;
    while (!cond() && performance.now() < deadline) await sleep(20);
  };
  await waitUntil(() => inflight === 0, 60_000);

  // ---- drain: cancel what the traders still know about ----
  if (plan.drain) {
    const cancels = traders.flatMap((t) => t.state.orders.map((o) => ({ t, orderId: o.orderId })));
    for (const t of traders) t.state.orders = [];
    log(`drain: cancelling ${cancels.length} known orders`);
    await mapLimit(cancels, Math.min(32, plan.maxInflight), async ({ t, orderId }) => {
      try {
        const a = await http.call('DELETE', `/api/v1/orders/${orderId}`, { token: t.token });
        if (a.status === 202) totals.drainAccepted++;
        else totals.drainOther[a.status] = (totals.drainOther[a.status] ?? 0) + 1;
      } catch {
        totals.drainOther.network = (totals.drainOther.network ?? 0) + 1;
      }
    });
  }
  await waitUntil(() => lagOutstanding === 0 && lagPending.size === 0 && positionWaiters.size === 0, plan.lagTimeoutMs + 5_000);
  await listener?.end().catch(() => undefined);
  clearInterval(reporter);
  if (dbTimer) clearInterval(dbTimer);
  report();
  await db?.end();
  await http.close();

  const stepTotals: StepTotals[] = steps.slice(0, plan.schedule.length - skippedSteps).map((a, index) => ({
    index,
    label: plan.schedule[index]!.label,
    rate: plan.schedule[index]!.rate,
    seconds: a.seconds,
    offered: a.offered,
    sent: a.sent,
    shed: a.shed,
    accepted: a.accepted,
    conflicts: a.conflicts,
    errors: a.errors,
    statuses: a.statuses,
    latency: a.latency.toJSON(),
    service: a.service.toJSON(),
    latencyByAnswer: { place: a.latencyByAnswer.place.toJSON(), amend: a.latencyByAnswer.amend.toJSON(), cancel: a.latencyByAnswer.cancel.toJSON(), refused: a.latencyByAnswer.refused.toJSON() },
    lag: a.lag.toJSON(),
    lagTimeouts: a.lagTimeouts,
    logLag: a.logLag.toJSON(),
  }));
  return {
    type: 'done',
    steps: stepTotals,
    totals,
    lagSource,
    lagSkipped,
    lagReads,
    logLag: { measured: listener !== undefined, unresolved: positionWaiters.size },
    errorSamples,
    decisionsByTag,
    loadSeconds,
    skippedSteps,
  };
}
