/**
 * `tradectl redrive` against the seeded log (PostgreSQL): every input there was decided by the
 * simulator with core-domain's account decider, so redrive must find each market fact already applied
 * and append nothing; and it refuses what is not a market fact, an unknown id, a malformed one.
 * The whole path (the risk handler dead-letters a trade, later inputs are applied, redrive settles it
 * once) is proven end to end with the engine in packages/engine/src/redrive.test.ts.
 *
 * The race with another writer of the account stream (between redrive's load and its append) is
 * provoked here, deterministically: `redriveInput` is given a connection whose store performs the
 * other writer's append right before redrive's own (no sleeps, no timing).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountDecider, formatAmount, parseEvent, type AccountState } from '@tradecore/core-domain';
import { decisionMetadata, derivedEventId } from '@tradecore/engine/decisions';
import { createPostgresEventStore, type AppendResult, type ExpectedRevision, type NewEvent, type PostgresEventStore, type RecordedEvent } from '@tradecore/event-store';
import { createTestDatabase, type TestDatabase } from '@tradecore/testkit';
import { connect, type Connection } from '../connect.ts';
import { CliError, ExitCode } from '../errors.ts';
import { allEvents, seed, tradectl, waitVisible, type Seeded } from '../testing/fixture.ts';
import { BTC_USD, Simulator, storeSink } from '../testing/simulator.ts';
import { redriveExitCode, redriveInput } from './redrive.ts';

let f: Seeded;
let env: Record<string, string>;
let events: RecordedEvent[];
const clock = { now: () => new Date('2025-03-15T00:00:00.000Z') };
beforeAll(async () => {
  f = await seed('tctl_redrive');
  env = { DATABASE_URL: f.url };
  events = await allEvents(f.store);
});
afterAll(async () => {
  await f.close();
});

const head = async () => (await f.store.headPosition()).toString();
/** Events committed (readers of the log stop below the oldest transaction on the server). */
const count = async () => Number((await f.pool.query<{ n: string }>('select count(*)::text as n from event_store.events')).rows[0]?.n);

describe('tradectl redrive', () => {
  it('finds a settled trade already applied on both accounts (its recorded input position) and appends nothing: exit 3', async () => {
    const trade = events.find((e) => e.type === 'TradeExecuted' && (e.data as { takerOrderId: string }).takerOrderId === f.s.aliceBuy.orderId);
    expect(trade).toBeDefined();
    const before = { head: await head(), count: await count() };
    const r = await tradectl(['redrive', trade!.eventId, '--format', 'json'], env, { clock });
    expect(r.err).toBe('');
    expect(r.code).toBe(ExitCode.NOTHING_TO_DO);
    const j = JSON.parse(r.out) as { exitCode: number; accounts: { userId: number; outcome: string; appliedBy?: { type: string } }[] };
    expect(j.exitCode).toBe(3);
    expect(j.accounts.map((a) => [a.userId, a.outcome, a.appliedBy?.type]).sort()).toEqual(
      [
        [f.s.alice, 'already_applied', 'FillSettled'],
        [f.s.bob, 'already_applied', 'FillSettled'],
      ].sort(),
    );
    // text: says so per account
    const t = await tradectl(['redrive', trade!.eventId, '--user', String(f.s.bob)], env, { clock });
    expect(t.code).toBe(3);
    expect(t.out).toContain(`account-${f.s.bob}: nothing appended: account-${f.s.bob} already applied it: FillSettled`);
    expect(t.out).not.toContain(`account-${f.s.alice}`);
    expect({ head: await head(), count: await count() }).toEqual(before);
  });

  it('finds a cancel already released: exit 3', async () => {
    const cancelled = events.find((e) => e.type === 'OrderCancelled' && (e.data as { orderId: string }).orderId === f.s.aliceCancelled.orderId);
    expect(cancelled).toBeDefined();
    const r = await tradectl(['redrive', cancelled!.eventId], env, { clock });
    expect(r.code).toBe(3);
    expect(r.out).toContain(`account-${f.s.alice}: nothing appended: account-${f.s.alice} already applied it: ReservationReleased`);
  });

  it("refuses a trader's request (the risk handler answers those itself) and any other non-market fact: exit 65", async () => {
    const placed = events.find((e) => e.type === 'OrderPlaced' && (e.data as { orderId: string }).orderId === f.s.aliceBuy.orderId);
    const r = await tradectl(['redrive', placed!.eventId], env, { clock });
    expect(r.code).toBe(ExitCode.DATA);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/OrderPlaced .* is not a market fact the risk handler applies .*: a trader's request: the risk handler answered it \(engine_error\)/);
    const deposit = events.find((e) => e.type === 'FundsDeposited');
    const d = await tradectl(['redrive', deposit!.eventId], env, { clock });
    expect(d.code).toBe(65);
    expect(d.err).toContain('not an input the risk handler applies to an account');
  });

  it('an unknown event id is not found (66), a malformed one or a user who is no party is usage (64)', async () => {
    const before = await count();
    const missing = await tradectl(['redrive', '00000000-0000-4000-8000-00000000abcd'], env, { clock });
    expect(missing.code).toBe(ExitCode.NOT_FOUND);
    expect(missing.err).toContain('no event 00000000-0000-4000-8000-00000000abcd in the log');
    const bad = await tradectl(['redrive', 'not-a-uuid'], env, { clock });
    expect(bad.code).toBe(ExitCode.USAGE);
    expect(bad.err).toContain('is not an event id');
    const trade = events.find((e) => e.type === 'TradeExecuted');
    const stranger = await tradectl(['redrive', trade!.eventId, '--user', String(f.s.dave)], env, { clock });
    expect(stranger.code).toBe(64);
    expect(stranger.err).toContain(`not user ${f.s.dave}`);
    expect(await count()).toBe(before);
  });
});

type Append = (stream: string, events: readonly NewEvent[], options?: { expectedRevision?: ExpectedRevision }) => Promise<AppendResult>;

/**
 * `conn` whose store runs `before` (another writer's append) right before each of redrive's appends,
 * and records those appends: the race between redrive's load and its append, on demand.
 */
function racing(conn: Connection, before: (call: number, stream: string, events: readonly NewEvent[], expected: ExpectedRevision | undefined) => Promise<void>) {
  const appends: { stream: string; ids: string[]; expectedRevision: ExpectedRevision | undefined; result?: AppendResult; error?: unknown }[] = [];
  const target = conn.store;
  const appendToStream: Append = async (stream, events, options) => {
    const a: (typeof appends)[number] = { stream, ids: events.map((e) => e.eventId), expectedRevision: options?.expectedRevision };
    appends.push(a);
    await before(appends.length, stream, events, options?.expectedRevision);
    try {
      a.result = await target.appendToStream(stream, events, options);
      return a.result;
    } catch (err) {
      a.error = err;
      throw err;
    }
  };
  const store = new Proxy(target, {
    get(t, prop) {
      if (prop === 'appendToStream') return appendToStream;
      const v: unknown = Reflect.get(t, prop, t);
      return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(t) : v;
    },
  });
  return { conn: { ...conn, store } as Connection, appends };
}

describe('tradectl redrive: another writer appends to the account between the load and the append', () => {
  let db: TestDatabase;
  let store: PostgresEventStore;
  let pool: pg.Pool;
  let conn: Connection;
  let sim: Simulator;
  let alice: number;
  let admin: number;
  /** The OrderCancelled of each of alice's three bids, whose release the risk handler dead-lettered. */
  const cancels: RecordedEvent[] = [];
  const stream = () => `account-${alice}`;

  beforeAll(async () => {
    db = await createTestDatabase('tctl_redrive_race');
    store = createPostgresEventStore({ connectionString: db.url, poolSize: 4 });
    await store.ready();
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    pool.on('error', () => undefined);
    sim = new Simulator(storeSink(store), { start: '2025-03-14T14:00:00.000Z' });
    admin = await sim.registerUser('admin', ['admin', 'trader']);
    alice = await sim.registerUser('alice');
    const btc = await sim.listMarket(BTC_USD, admin);
    await sim.deposit(alice, 'USD', '10000', admin);
    // Three bids (1 × price × 1.002 held each: 100.2, 99.198, 98.196), each cancelled on the book,
    // the release dead-lettered; then a later bid (97.194) that the account decided.
    const bids: string[] = [];
    for (const price of ['100.00', '99.00', '98.00']) {
      const o = await sim.placeOrder({ userId: alice, marketId: btc, side: 'buy', price, quantity: '1' });
      expect(o.outcome).toBe('accepted');
      bids.push(o.orderId);
    }
    for (const id of bids) expect(await sim.cancelOrder(id, { riskDeadLetters: true })).toBe(true);
    expect((await sim.placeOrder({ userId: alice, marketId: btc, side: 'buy', price: '97.00', quantity: '1' })).outcome).toBe('accepted');
    await waitVisible(store, pool);
    const events = await allEvents(store);
    for (const id of bids) {
      const c = events.find((e) => e.type === 'OrderCancelled' && (e.data as { orderId: string }).orderId === id);
      if (!c) throw new Error(`no OrderCancelled of ${id}`);
      cancels.push(c);
    }
    expect(events.filter((e) => e.type === 'ReservationReleased')).toEqual([]);
    conn = await connect({ url: db.url, env: {} });
  });
  afterAll(async () => {
    await conn?.close();
    await pool?.end().catch(() => undefined);
    await store?.close().catch(() => undefined);
    await db?.drop().catch(() => undefined);
  });

  async function account(): Promise<AccountState> {
    let s = accountDecider.initialState();
    for (const e of await store.readStream(stream())) s = accountDecider.evolve(s, parseEvent(e.type, 1, e.data), e.metadata);
    return s;
  }
  const usd = async () => {
    const b = (await account()).balances.get('USD');
    return { available: formatAmount(b?.available ?? 0n), reserved: formatAmount(b?.reserved ?? 0n) };
  };
  const revision = async () => (await store.readStream(stream())).at(-1)?.streamRevision ?? -1n;
  const releasesOf = async (orderId: string) => (await store.readStream(stream())).filter((e) => e.type === 'ReservationReleased' && (e.data as { orderId: string }).orderId === orderId);
  /** A deposit of `amount` USD to alice, as the API's admin deposit would append it. */
  const deposit = (amount: string): NewEvent => ({
    eventId: randomUUID(),
    type: 'FundsDeposited',
    data: { depositId: randomUUID(), userId: alice, asset: 'USD', amount, depositedBy: admin },
    metadata: { correlationId: randomUUID(), causationId: null, userId: admin, occurredAt: '2025-03-15T00:00:00.000Z', schemaVersion: 1 },
  });

  it('a deposit lands first: redrive fails its append (wrong revision), reloads, judges again and appends the release once, after the deposit', async () => {
    const cancel = cancels[0]!;
    const orderId = (cancel.data as { orderId: string }).orderId;
    expect(await usd()).toEqual({ available: '9605.212', reserved: '394.788' });
    const r0 = await revision();
    const depositEvent = deposit('5');
    const race = racing(conn, async (call, s) => {
      if (call === 1) await store.appendToStream(s, [depositEvent], { expectedRevision: 'any' });
    });
    const r = await redriveInput(race.conn, cancel.eventId, { clock });
    const releaseId = derivedEventId(cancel.eventId, stream(), 0);
    expect(redriveExitCode(r)).toBe(ExitCode.OK);
    expect(r.accounts).toHaveLength(1);
    expect(r.accounts[0]).toMatchObject({ userId: alice, outcome: 'appended', revision: (r0 + 1n).toString() });
    expect(r.accounts[0]?.events.map((e) => [e.type, e.eventId])).toEqual([['ReservationReleased', releaseId]]);
    // Two appends of the same decision: the first named the revision as loaded and failed; the
    // second named the revision after the deposit and went through.
    expect(race.appends.map((a) => [a.ids, a.expectedRevision, a.error === undefined])).toEqual([
      [[releaseId], r0, false],
      [[releaseId], r0 + 1n, true],
    ]);
    expect((race.appends[0]?.error as Error).name).toBe('WrongExpectedRevisionError');
    const tail = (await store.readStream(stream())).slice(-2);
    expect(tail.map((e) => [e.eventId, e.type, e.streamRevision])).toEqual([
      [depositEvent.eventId, 'FundsDeposited', r0 + 1n],
      [releaseId, 'ReservationReleased', r0 + 2n],
    ]);
    expect(tail[1]?.data).toMatchObject({ orderId, amount: '100.2', asset: 'USD', cause: 'cancelled' });
    expect(tail[1]?.metadata).toMatchObject({ causationId: cancel.eventId, inputPosition: cancel.globalPosition.toString(), redrive: true });
    expect(await releasesOf(orderId)).toHaveLength(1);
    // 9605.212 + the deposit (5) + the release (100.2); reserved: the other bids only.
    expect(await usd()).toEqual({ available: '9710.412', reserved: '294.588' });
    expect((await account()).openOrders.has(orderId)).toBe(false);
  });

  it('the same decision lands first (a redelivery of the input to the live handler): redrive appends nothing and says it was already applied (exit 3)', async () => {
    const cancel = cancels[1]!;
    const orderId = (cancel.data as { orderId: string }).orderId;
    const releaseId = derivedEventId(cancel.eventId, stream(), 0);
    const before = await usd();
    const r0 = await revision();
    // The live handler's write of this decision: the same derived ids and data, its own metadata
    // (no `redrive` mark), at the revision redrive loaded.
    const race = racing(conn, async (call, s, events, expected) => {
      if (call === 1) await store.appendToStream(s, events.map((e) => ({ ...e, metadata: decisionMetadata(cancel, { now: () => new Date('2025-03-14T23:00:00.000Z') }) })), { expectedRevision: expected });
    });
    const r = await redriveInput(race.conn, cancel.eventId, { clock });
    expect(r.accounts).toHaveLength(1);
    expect(r.accounts[0]).toMatchObject({ userId: alice, outcome: 'already_applied', events: [], appliedBy: { eventId: releaseId, type: 'ReservationReleased' } });
    expect(redriveExitCode(r)).toBe(ExitCode.NOTHING_TO_DO);
    // One release in the stream, the live handler's, right after the revision redrive loaded.
    const released = await releasesOf(orderId);
    expect(released.map((e) => [e.eventId, e.streamRevision])).toEqual([[releaseId, r0 + 1n]]);
    expect(released[0]?.data).toMatchObject({ amount: '99.198', cause: 'cancelled' });
    expect(released[0]?.metadata.redrive).toBeUndefined();
    expect(await revision()).toBe(r0 + 1n);
    // Released once: 99.198 more available than before, no more.
    expect(before).toEqual({ available: '9710.412', reserved: '294.588' });
    expect(await usd()).toEqual({ available: '9809.61', reserved: '195.39' });
  });

  it('a decider that still throws on the input: refused (exit 4), nothing appended', async () => {
    const cancel = cancels[2]!;
    const r0 = await revision();
    const stillFailing = { ...accountDecider, decide: () => { throw new Error('still broken'); } };
    const r = await redriveInput(conn, cancel.eventId, { clock, decider: stillFailing });
    expect(r.accounts).toHaveLength(1);
    expect(r.accounts[0]).toMatchObject({ userId: alice, outcome: 'refused', events: [], reason: 'the account decider still throws on it: still broken' });
    expect(redriveExitCode(r)).toBe(ExitCode.REFUSED);
    expect(await revision()).toBe(r0);
    expect(await releasesOf((cancel.data as { orderId: string }).orderId)).toEqual([]);
  });

  it('the account keeps changing: after conflictAttempts rounds redrive gives up (exit 69) with nothing of its decision appended; once it is quiet, the redrive appends', async () => {
    const cancel = cancels[2]!;
    const orderId = (cancel.data as { orderId: string }).orderId;
    const r0 = await revision();
    const race = racing(conn, async (_call, s) => {
      await store.appendToStream(s, [deposit('1')], { expectedRevision: 'any' });
    });
    const err = await redriveInput(race.conn, cancel.eventId, { clock, conflictAttempts: 3 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(ExitCode.UNAVAILABLE);
    expect((err as Error).message).toContain(`${stream()} kept changing while redrive appended to it (3 attempts); try again`);
    expect(race.appends.map((a) => a.expectedRevision)).toEqual([r0, r0 + 1n, r0 + 2n]);
    expect(race.appends.every((a) => (a.error as Error | undefined)?.name === 'WrongExpectedRevisionError')).toBe(true);
    expect(await releasesOf(orderId)).toEqual([]);
    expect(await revision()).toBe(r0 + 3n);
    const r = await redriveInput(conn, cancel.eventId, { clock });
    expect(r.accounts[0]).toMatchObject({ outcome: 'appended', revision: (r0 + 3n).toString() });
    expect((await releasesOf(orderId)).map((e) => e.eventId)).toEqual([derivedEventId(cancel.eventId, stream(), 0)]);
    // Every bid but the later one released: 97.194 held; 10000 + 5 + 3 deposited in all.
    expect(await usd()).toEqual({ available: '9910.806', reserved: '97.194' });
  });
});
