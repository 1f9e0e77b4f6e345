/**
 * `tradectl redrive` against the seeded log (PostgreSQL): every input there was decided by the
 * simulator with core-domain's account decider, so redrive must find each market fact already applied
 * and append nothing; and it refuses what is not a market fact, an unknown id, a malformed one.
 * The whole path (the risk handler dead-letters a trade, later inputs are applied, redrive settles it
 * once) is proven end to end with the engine in packages/engine/src/redrive.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '@tradecore/event-store';
import { ExitCode } from '../errors.ts';
import { allEvents, seed, tradectl, type Seeded } from '../testing/fixture.ts';

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
