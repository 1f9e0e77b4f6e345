import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../cli.ts';
import { memoryIo } from '../io.ts';
import { seed, tradectl, eventRows, type Seeded } from '../testing/fixture.ts';

let f: Seeded;
let env: Record<string, string>;

beforeAll(async () => {
  f = await seed('tctl_events');
  env = { TRADECORE_EVENTSTORE_URL: f.url };
});
afterAll(async () => {
  await f.close();
});

function jsonl(out: string): Record<string, unknown>[] {
  return out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('tradectl events', () => {
  it('prints every event as JSON lines in global position order when stdout is not a terminal', async () => {
    const r = await tradectl(['events'], env);
    expect(r.code).toBe(0);
    const lines = jsonl(r.out);
    const rows = await eventRows(f.pool);
    expect(lines.map((l) => l.position)).toEqual(rows.map((x) => x.position));
    expect(lines).toHaveLength(f.s.events);
    expect(r.err).toBe('');
  });

  it('prints a table on a terminal', async () => {
    const r = await tradectl(['events', '--type', 'UserRegistered'], env, { tty: true });
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toMatch(/^POSITION\s+TIME\s+STREAM\s+REV\s+TYPE\s+BY\s+DATA$/);
    expect(lines).toHaveLength(6);
    expect(lines[2]).toContain('username=alice');
  });

  it('filters by order across the order, account and market streams', async () => {
    const r = await tradectl(['events', '--order', f.s.aliceBuy.orderId], env);
    expect(r.code).toBe(0);
    const lines = jsonl(r.out);
    // bob's FillSettled of the same trade is about bob's (maker) order, not this one
    expect(lines.map((l) => l.type)).toEqual(['OrderPlaced', 'OrderAccepted', 'OrderEntered', 'TradeExecuted', 'FillSettled']);
    expect(lines.map((l) => l.stream)).toEqual([`order-${f.s.aliceBuy.orderId}`, `account-${f.s.alice}`, `market-${f.s.btc}`, `market-${f.s.btc}`, `account-${f.s.alice}`]);
    const maker = jsonl((await tradectl(['events', '--order', f.s.bobAsk.orderId, '--type', 'TradeExecuted,FillSettled'], env)).out);
    expect(maker.map((l) => `${String(l.type)}@${String(l.stream)}`)).toEqual([
      `TradeExecuted@market-${f.s.btc}`,
      `FillSettled@account-${f.s.bob}`,
    ]);
  });

  it('filters by user, market, type, stream prefix and combinations', async () => {
    const byType = jsonl((await tradectl(['events', '--type', 'OrderRejected'], env)).out);
    expect(byType.map((l) => (l.data as { reason: string }).reason).sort()).toEqual(['insufficient_funds', 'kill_switch', 'price_band']);

    const dave = jsonl((await tradectl(['events', '--user', String(f.s.dave), '--type', 'OrderRejected,OrderPlaced'], env)).out);
    expect(dave.map((l) => l.type)).toEqual(['OrderPlaced', 'OrderRejected', 'OrderPlaced', 'OrderRejected']);

    const eth = jsonl((await tradectl(['events', '--market', String(f.s.eth), '--type', 'TradeExecuted'], env)).out);
    expect(eth).toHaveLength(1);
    expect((eth[0]?.data as { price: string }).price).toBe('50');

    const orders = jsonl((await tradectl(['events', '--stream', 'order-*'], env)).out);
    expect(orders.length).toBeGreaterThan(5);
    expect(orders.every((l) => String(l.stream).startsWith('order-'))).toBe(true);

    const two = jsonl((await tradectl(['events', '--stream', 'users', '--stream', 'markets'], env)).out);
    expect(two.map((l) => l.type)).toEqual([...Array<string>(5).fill('UserRegistered'), 'MarketListed', 'MarketListed']);
  });

  it('filters by time range and position range (inclusive)', async () => {
    const rows = await eventRows(f.pool);
    const from = rows[3]?.position ?? '';
    const to = rows[7]?.position ?? '';
    const r = jsonl((await tradectl(['events', '--from', from, '--to', to], env)).out);
    expect(r.map((l) => l.position)).toEqual(rows.slice(3, 8).map((x) => x.position));

    const t = jsonl((await tradectl(['events', '--since', '2025-03-14T14:00:02Z', '--until', '2025-03-14T14:00:04Z'], env)).out);
    expect(t.map((l) => (l.data as { username?: string }).username)).toEqual(['alice', 'bob', 'carol']);
  });

  it('writes CSV with a header and quoted JSON data', async () => {
    const r = await tradectl(['events', '--format', 'csv', '--type', 'MarketListed'], env);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toBe('position,time,recorded_at,stream,revision,event_id,type,user_id,correlation_id,causation_id,data');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/,markets,0,[0-9a-f-]{36},MarketListed,1,/);
    expect(lines[1]).toContain('"{""symbol"":""BTC-USD""'.slice(0, 3));
    expect(lines[1]).toContain('""symbol"":""BTC-USD""');
  });

  it('refuses bad ranges and values with exit 64 and a clear message', async () => {
    const rows = await eventRows(f.pool);
    const a = await tradectl(['events', '--from', rows[5]?.position ?? '', '--to', rows[2]?.position ?? ''], env);
    expect(a.code).toBe(64);
    expect(a.err).toMatch(/bad range: --from \d+ is after --to \d+/);
    const b = await tradectl(['events', '--from', 'yesterday'], env);
    expect(b.code).toBe(64);
    expect(b.err).toContain('is not a global position');
    const c = await tradectl(['events', '--since', '14:03'], env);
    expect(c.code).toBe(64);
    expect(c.err).toContain('ISO-8601');
    const d = await tradectl(['events', '--from', '99999999999999999'], env);
    expect(d.code).toBe(64);
    expect(d.err).toContain('beyond the head');
    const e = await tradectl(['events', '--format', 'xml'], env);
    expect(e.code).toBe(64);
    expect(e.err).toContain('xml');
  });

  it('--follow prints the history, then new events as they are appended, until interrupted', async () => {
    const controller = new AbortController();
    const io = memoryIo(env, { signal: controller.signal });
    const pending = run(['events', '--follow', '--type', 'FundsDeposited', '--user', String(f.s.dave)], io);
    await f.sim.deposit(f.s.dave, 'USD', '77', f.s.admin);
    await f.sim.deposit(f.s.carol, 'USD', '1', f.s.admin); // not dave's: filtered out
    await f.sim.deposit(f.s.dave, 'USD', '78', f.s.admin);
    const deadline = Date.now() + 30_000;
    while (io.out().trim().split('\n').length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    controller.abort(); // what SIGINT does in main.ts
    const code = await pending;
    expect(code).toBe(0);
    const amounts = jsonl(io.out()).map((l) => (l.data as { amount: string }).amount);
    expect(amounts).toEqual(['10', '77', '78']);
  });

  it('--follow with --limit stops by itself', async () => {
    const pending = tradectl(['events', '--follow', '--limit', '2', '--type', 'OrderCancelRequested'], env);
    await new Promise((r) => setTimeout(r, 200));
    const open = f.sim.resting(f.s.btc, 'sell')[0];
    expect(open).toBeDefined();
    if (open) await f.sim.cancelOrder(open.orderId);
    const r = await pending;
    expect(r.code).toBe(0);
    expect(jsonl(r.out).map((l) => l.type)).toEqual(['OrderCancelRequested', 'OrderCancelRequested']);
  });
});
