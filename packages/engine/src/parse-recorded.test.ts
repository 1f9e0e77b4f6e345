/**
 * parseRecorded (the risk and execution handlers' parse of inputs and stream events): core-domain's
 * fastParseEvent answers for the ordinary inputs, handing back the recorded data itself; whatever
 * it is not sure of goes to zod, whose verdict — EventSchemaError with zod's message, the poison
 * that the StreamRunner dead-letters — stands. No database or broker: the inputs are decided by
 * the core-domain deciders, as the handlers would, and pass through JSON as they do over Kafka.
 */
import { describe, expect, it } from 'vitest';
import {
  EventSchemaError,
  DEFAULT_ACCOUNT_LIMITS,
  catalogueEvent,
  createMarketDecider,
  createOrderBook,
  decideAccount,
  evolveAccount,
  evolveControl,
  initialAccountState,
  initialControlState,
  parseEvent,
  toAccountCommand,
  toMarketCommand,
  type EventData,
  type TradecoreEvent,
} from '@tradecore/core-domain';
import type { RecordedEvent } from '@tradecore/event-store';
import { accountModel, parseRecorded } from './risk-handler.ts';
import { USER_A, USER_B, marketListed, orderPlaced } from './test-support.ts';

const AT = '2025-01-02T00:00:00.000Z';
let position = 100n;

/** A recorded event as a handler receives it: JSON on the wire, decoded into fresh objects. */
function recorded(type: string, data: unknown, schemaVersion: unknown = 1): RecordedEvent {
  position += 1n;
  const metadata = { correlationId: 'c', causationId: null, userId: null, occurredAt: AT, ...(schemaVersion === undefined ? {} : { schemaVersion }) };
  const wire = JSON.parse(JSON.stringify({ eventId: `e-${position}`, stream: 's', type, data, metadata, recordedAt: AT })) as Omit<RecordedEvent, 'streamRevision' | 'globalPosition'>;
  return { ...wire, streamRevision: 0n, globalPosition: position };
}

/** What zod makes of it (a copy), or the error it throws. */
function viaZod(r: RecordedEvent): TradecoreEvent | Error {
  const v = r.metadata.schemaVersion;
  try {
    return parseEvent(r.type, typeof v === 'number' ? v : 1, r.data);
  } catch (e) {
    return e as Error;
  }
}

/** An OrderPlaced, the OrderAccepted the account decider makes of it, and so on, for two crossing orders. */
function ordinaryInputs() {
  const listed = marketListed(1).data as EventData<'MarketListed'>;
  const control = evolveControl(initialControlState(), catalogueEvent('MarketListed', listed));
  const market = createMarketDecider({ createBook: () => createOrderBook('fast') });
  let book = market.evolve(market.initialState(), catalogueEvent('MarketListed', listed));
  const inputs: RecordedEvent[] = [];
  for (const [userId, side] of [
    [USER_A, 'sell'],
    [USER_B, 'buy'],
  ] as const) {
    let account = initialAccountState();
    for (const asset of ['USD', listed.baseAsset]) account = evolveAccount(account, catalogueEvent('FundsDeposited', { depositId: `d-${userId}-${asset}`, userId, asset, amount: '1000000', depositedBy: 1 }));
    const placed = recorded('OrderPlaced', orderPlaced({ userId, marketId: 1, side, price: '100', quantity: '1' }, AT).event.data);
    inputs.push(placed);
    const command = toAccountCommand({ event: parseRecorded(placed), globalPosition: placed.globalPosition, inputAt: AT }, { userId, control, lastPrice: () => null, limits: DEFAULT_ACCOUNT_LIMITS });
    const decided = decideAccount(command!, account);
    const accepted = decided.find((e) => e.type === 'OrderAccepted');
    expect(accepted, JSON.stringify(decided)).toBeDefined();
    const acceptedInput = recorded('OrderAccepted', accepted!.data);
    inputs.push(acceptedInput);
    const marketCommand = toMarketCommand({ event: parseRecorded(acceptedInput), globalPosition: acceptedInput.globalPosition, recordedAt: AT, ids: (n) => Array.from({ length: n }, (_, k) => `t-${acceptedInput.globalPosition}-${k}`) }, control);
    const produced = market.decide(marketCommand!, book);
    for (const e of produced) book = market.evolve(book, e);
    for (const e of produced) if (e.type === 'TradeExecuted') inputs.push(recorded('TradeExecuted', e.data));
  }
  return inputs;
}

describe('parseRecorded', () => {
  const inputs = ordinaryInputs();

  it('takes the fast path for ordinary OrderPlaced, OrderAccepted and TradeExecuted inputs: the recorded data itself, equal to what zod returns', () => {
    expect(inputs.map((r) => r.type)).toEqual(['OrderPlaced', 'OrderAccepted', 'OrderPlaced', 'OrderAccepted', 'TradeExecuted']);
    for (const r of inputs) {
      const event = parseRecorded(r);
      // zod returns a copy; only the fast path hands back the recorded object.
      expect(event.data, r.type).toBe(r.data);
      expect(event).toEqual(viaZod(r));
      expect(viaZod(r)).not.toBeInstanceOf(Error);
      expect((viaZod(r) as TradecoreEvent).data).not.toBe(r.data);
    }
    // A recorded event without a schema version is version 1, as before.
    const unversioned = recorded('TradeExecuted', inputs[4]!.data, undefined);
    expect(parseRecorded(unversioned).data).toBe(unversioned.data);
    // The risk handler's stream model parses loaded events the same way.
    for (const r of inputs) expect(accountModel.parse(r).data).toBe(r.data);
  });

  it("still throws EventSchemaError with zod's message for an input zod rejects", () => {
    const trade = inputs[4]!.data as Record<string, unknown>;
    const placed = inputs[0]!.data as Record<string, unknown>;
    const bad = [
      recorded('TradeExecuted', { ...trade, price: '1e3' }),
      recorded('TradeExecuted', { ...trade, extra: 1 }),
      recorded('OrderPlaced', { ...placed, userId: 0 }),
      recorded('OrderPlaced', { ...placed, placedAt: '2025-02-30T00:00:00.000Z' }),
      recorded('OrderAccepted', { ...(inputs[1]!.data as Record<string, unknown>), checks: [{ rule: 'x', limit: null }] }),
      recorded('OrderPlaced', placed, 2),
      recorded('MysteryHappened', placed),
    ];
    for (const r of bad) {
      const zod = viaZod(r);
      expect(zod, `${r.type} ${JSON.stringify(r.data)}`).toBeInstanceOf(EventSchemaError);
      let thrown: unknown;
      try {
        parseRecorded(r);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(EventSchemaError);
      expect((thrown as Error).message).toBe((zod as Error).message);
    }
  });

  it('leaves to zod what the fast path is not sure of, and zod accepts it as before (a copy)', () => {
    const trade = { ...(inputs[4]!.data as Record<string, unknown>), executedAt: '2025-01-31T23:59:59.999Z' };
    const r = recorded('TradeExecuted', trade);
    const event = parseRecorded(r);
    expect(event.data).not.toBe(r.data);
    expect(event.data).toEqual(r.data);
  });
});
