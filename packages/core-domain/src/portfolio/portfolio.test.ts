import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatAmount, lotsToUnits, notionalUnits, parseAmount } from '../numbers.ts';
import { feeFor, maxFeeBps, tradeAmounts } from './fees.ts';
import { applyFill, averageCost, flatPosition, markValue, netRealizedPnl, unrealizedPnl, type Position, type PositionFill } from './position.ts';
import {
  balanceOf,
  emptyLedger,
  ledgerDeposit,
  ledgerReserve,
  ledgerTotals,
  legEffect,
  settleFill,
  settleLeg,
  type FillLeg,
  type Ledger,
} from './settlement.ts';
import { feeUnits } from '../numbers.ts';

const spec = { tickSize: '0.01', lotSize: '0.001', makerFeeBps: 10, takerFeeBps: 25 };
const u = (s: string) => parseAmount(s);

describe('fees', () => {
  it('charges maker and taker their own rate, rounded up', () => {
    // 100.00 × 1.000 = 100 quote: taker 25 bps = 0.25, maker 10 bps = 0.1
    const a = tradeAmounts(spec, 10_000n, 1_000n);
    expect(formatAmount(a.notional)).toBe('100');
    expect(formatAmount(a.takerFee)).toBe('0.25');
    expect(formatAmount(a.makerFee)).toBe('0.1');
    // 0.01 × 0.001 = 0.00001 quote → taker fee 2.5e-8 exactly; 1 unit notional rounds up to 1 unit fee
    expect(formatAmount(tradeAmounts(spec, 1n, 1n).takerFee)).toBe('0.000000025');
    expect(feeFor(spec, 'taker', 1n)).toBe(1n);
    expect(feeFor({ makerFeeBps: 0, takerFeeBps: 0 }, 'maker', 10n ** 20n)).toBe(0n);
    expect(maxFeeBps(spec)).toBe(25);
  });
});

describe('settlement of a fill', () => {
  // given a buyer who reserved 100.00 × 1 + 0.25 max fee and a seller who reserved 1 base
  const buyLeg: FillLeg = {
    side: 'buy',
    baseAsset: 'BTC',
    quoteAsset: 'USD',
    baseUnits: u('1'),
    notional: u('99'),
    fee: u('0.2475'),
    reservedShare: u('100.25'),
  };

  it('buyer pays notional + fee from reserved quote, gets base, price improvement released', () => {
    const before = new Map([['USD', { available: u('900'), reserved: u('100.25') }]]);
    const after = settleLeg(before, buyLeg);
    expect(balanceOf(after, 'USD')).toEqual({ available: u('900') + u('1.0025'), reserved: 0n });
    expect(balanceOf(after, 'BTC')).toEqual({ available: u('1'), reserved: 0n });
    expect(legEffect(buyLeg)).toEqual({ released: u('1.0025'), shortfall: 0n });
  });

  it('seller gives reserved base and receives notional − fee', () => {
    const sellLeg: FillLeg = { ...buyLeg, side: 'sell', fee: u('0.099'), reservedShare: u('1') };
    const before = new Map([['BTC', { available: u('2'), reserved: u('1') }]]);
    const after = settleLeg(before, sellLeg);
    expect(balanceOf(after, 'BTC')).toEqual({ available: u('2'), reserved: 0n });
    expect(balanceOf(after, 'USD')).toEqual({ available: u('98.901'), reserved: 0n });
  });

  it('takes a shortfall from available rather than inventing money', () => {
    const leg = { ...buyLeg, reservedShare: u('99') };
    expect(legEffect(leg)).toEqual({ released: 0n, shortfall: u('0.2475') });
    const after = settleLeg(new Map([['USD', { available: u('1'), reserved: u('99') }]]), leg);
    expect(balanceOf(after, 'USD')).toEqual({ available: u('0.7525'), reserved: 0n });
  });

  it('conserves every asset across any sequence of fills (property)', () => {
    const users = [1, 2, 3, 4];
    const fillArb = fc.record({
      buyer: fc.constantFrom(...users),
      sellerOffset: fc.integer({ min: 1, max: 3 }),
      priceTicks: fc.bigInt({ min: 1n, max: 1_000_000n }),
      improvementTicks: fc.bigInt({ min: 0n, max: 1_000n }),
      lots: fc.bigInt({ min: 1n, max: 100_000n }),
      buyerIsTaker: fc.boolean(),
    });
    const feesArb = fc.record({ makerFeeBps: fc.integer({ min: 0, max: 1000 }), takerFeeBps: fc.integer({ min: 0, max: 1000 }) });
    fc.assert(
      fc.property(feesArb, fc.array(fillArb, { maxLength: 40 }), (fees, fills) => {
        const m = { ...spec, ...fees };
        let ledger: Ledger = emptyLedger();
        const deposits = new Map<string, bigint>();
        for (const user of users) {
          for (const [asset, amount] of [['USD', u('1000000000000')], ['BTC', u('1000000000')]] as const) {
            ledger = ledgerDeposit(ledger, user, asset, amount);
            deposits.set(asset, (deposits.get(asset) ?? 0n) + amount);
          }
        }
        for (const f of fills) {
          const seller = users[(users.indexOf(f.buyer) + f.sellerOffset) % users.length] ?? 1;
          const limit = f.priceTicks + f.improvementTicks;
          const perLotAtLimit = notionalUnits(limit, 1n, m.tickSize, m.lotSize);
          const share = f.lots * (perLotAtLimit + feeUnits(perLotAtLimit, maxFeeBps(m)));
          const base = lotsToUnits(f.lots, m.lotSize);
          ledger = ledgerReserve(ledger, f.buyer, 'USD', share);
          ledger = ledgerReserve(ledger, seller, 'BTC', base);
          const amounts = tradeAmounts(m, f.priceTicks, f.lots);
          const leg = { baseAsset: 'BTC', quoteAsset: 'USD', baseUnits: base, notional: amounts.notional };
          const buyerFee = f.buyerIsTaker ? amounts.takerFee : amounts.makerFee;
          const sellerFee = f.buyerIsTaker ? amounts.makerFee : amounts.takerFee;
          const buy: FillLeg = { ...leg, side: 'buy', fee: buyerFee, reservedShare: share };
          expect(legEffect(buy).shortfall).toBe(0n);
          ledger = settleFill(ledger, {
            buyerUserId: f.buyer,
            sellerUserId: seller,
            buy,
            sell: { ...leg, side: 'sell', fee: sellerFee, reservedShare: base },
          });
          for (const [asset, total] of ledgerTotals(ledger)) expect(total).toBe(deposits.get(asset));
        }
        // every reservation was consumed by its fill
        for (const balances of ledger.accounts.values()) for (const b of balances.values()) expect(b.reserved).toBe(0n);
      }),
    );
  });
});

describe('positions (average cost)', () => {
  const buy = (qty: string, price: string, fee = '0'): PositionFill => ({ side: 'buy', baseUnits: u(qty), notional: (u(qty) * u(price)) / 10n ** 12n, fee: u(fee) });
  const sell = (qty: string, price: string, fee = '0'): PositionFill => ({ ...buy(qty, price, fee), side: 'sell' });
  const fold = (fills: PositionFill[]): Position => fills.reduce(applyFill, flatPosition());

  it('averages the cost of buys', () => {
    const p = fold([buy('1', '100'), buy('3', '104')]);
    expect(p.quantity).toBe(u('4'));
    expect(averageCost(p)).toBe('103');
    expect(p.realizedPnl).toBe(0n);
  });

  it('realizes against the average cost when reducing, keeping the average', () => {
    const p = fold([buy('1', '100'), buy('3', '104'), sell('2', '110', '0.5')]);
    expect(formatAmount(p.realizedPnl)).toBe('14');
    expect(averageCost(p)).toBe('103');
    expect(formatAmount(p.fees)).toBe('0.5');
    expect(formatAmount(netRealizedPnl(p))).toBe('13.5');
  });

  it('values the open quantity against a mark price', () => {
    const p = fold([buy('2', '100')]);
    expect(formatAmount(markValue(p, '101.5'))).toBe('203');
    expect(formatAmount(unrealizedPnl(p, '101.5'))).toBe('3');
    expect(formatAmount(unrealizedPnl(p, '99'))).toBe('-2');
  });

  it('flips through zero into a short at the fill price', () => {
    const p = fold([buy('1', '100'), sell('3', '90')]);
    expect(formatAmount(p.realizedPnl)).toBe('-10');
    expect(p.quantity).toBe(-u('2'));
    expect(averageCost(p)).toBe('90');
    expect(formatAmount(unrealizedPnl(p, '80'))).toBe('20');
    const closed = applyFill(p, buy('2', '85'));
    expect(closed.quantity).toBe(0n);
    expect(closed.cost).toBe(0n);
    expect(formatAmount(closed.realizedPnl)).toBe('0');
    expect(averageCost(closed)).toBeNull();
  });

  it('realizes exactly proceeds − cost once flat, whatever the rounding (property)', () => {
    const fillArb = fc.record({ side: fc.constantFrom('buy' as const, 'sell' as const), baseUnits: fc.bigInt({ min: 1n, max: 10n ** 15n }), notional: fc.bigInt({ min: 0n, max: 10n ** 18n }) });
    fc.assert(
      fc.property(fc.array(fillArb, { maxLength: 30 }), (fills) => {
        let p = flatPosition();
        let cash = 0n;
        for (const f of fills) {
          p = applyFill(p, { ...f, fee: 0n });
          cash += f.side === 'sell' ? f.notional : -f.notional;
        }
        // close whatever is left at zero notional, then realized PnL is all the cash
        if (p.quantity !== 0n) p = applyFill(p, { side: p.quantity > 0n ? 'sell' : 'buy', baseUnits: p.quantity > 0n ? p.quantity : -p.quantity, notional: 0n, fee: 0n });
        expect(p.cost).toBe(0n);
        expect(p.realizedPnl).toBe(cash);
      }),
    );
  });
});
