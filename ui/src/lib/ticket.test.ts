import { describe, expect, it } from 'vitest';
import { formatDecimal } from './decimal.ts';
import { validateTicket, type TicketContext, type TicketInput } from './ticket.ts';

const market: TicketContext['market'] = {
  marketId: 1,
  tickSize: '0.05',
  lotSize: '0.001',
  baseAsset: 'BTC',
  quoteAsset: 'USD',
  status: 'open',
};
const ctx: TicketContext = { market, lastPrice: '100', available: { USD: '1000', BTC: '2' } };
const base: TicketInput = { side: 'buy', type: 'limit', quantity: '1.5', price: '100.05', timeInForce: 'GTC', postOnly: false };

describe('order ticket validation', () => {
  it('accepts a valid limit order and builds the request', () => {
    const r = validateTicket(base, ctx);
    expect(r.errors).toEqual({});
    expect(r.request).toEqual({ marketId: 1, side: 'buy', type: 'limit', quantity: '1.5', price: '100.05', timeInForce: 'GTC', postOnly: false });
    expect(formatDecimal(r.notional!)).toBe('150.075');
    expect(formatDecimal(r.fee!)).toBe('0.150075'); // 10 bps default
    expect(r.spendAsset).toBe('USD');
    expect(formatDecimal(r.available!)).toBe('1000');
    expect(r.confirmReasons).toEqual([]);
  });

  it('rejects a price off the tick and a quantity off the lot, with a suggestion', () => {
    const r = validateTicket({ ...base, price: '100.07', quantity: '1.0005' }, ctx);
    expect(r.errors.price).toBe('Price must be a multiple of the tick size 0.05 (for example 100.05).');
    expect(r.errors.quantity).toBe('Quantity must be a multiple of the lot size 0.001 (for example 1).');
    expect(r.request).toBeNull();
  });

  it('rejects empty, zero, negative and malformed numbers', () => {
    expect(validateTicket({ ...base, quantity: '' }, ctx).errors.quantity).toBe('Enter a quantity.');
    expect(validateTicket({ ...base, quantity: '0' }, ctx).errors.quantity).toMatch(/greater than zero/);
    expect(validateTicket({ ...base, quantity: '-1' }, ctx).errors.quantity).toMatch(/greater than zero/);
    expect(validateTicket({ ...base, quantity: '1e3' }, ctx).errors.quantity).toMatch(/plain decimal/);
    expect(validateTicket({ ...base, price: '' }, ctx).errors.price).toBe('Enter a limit price.');
  });

  it('market orders need no price, use the last price for the estimate and allow only IOC/FOK', () => {
    const r = validateTicket({ ...base, type: 'market', price: '', timeInForce: 'IOC' }, ctx);
    expect(r.errors).toEqual({});
    expect(r.request).toEqual({ marketId: 1, side: 'buy', type: 'market', quantity: '1.5', timeInForce: 'IOC' });
    expect(formatDecimal(r.notional!)).toBe('150');
    expect(validateTicket({ ...base, type: 'market', timeInForce: 'GTC' }, ctx).errors.timeInForce).toBeDefined();
  });

  it('post-only must be a GTC limit order and is charged the maker fee', () => {
    expect(validateTicket({ ...base, postOnly: true, timeInForce: 'IOC' }, ctx).errors.postOnly).toMatch(/GTC/);
    const r = validateTicket({ ...base, postOnly: true }, { ...ctx, market: { ...market, makerFeeBps: 2, takerFeeBps: 5 } });
    expect(r.feeBps).toBe(2);
    expect(r.request?.postOnly).toBe(true);
  });

  it('warns (but still sends) when the balance is short', () => {
    const buy = validateTicket({ ...base, quantity: '10' }, ctx);
    expect(buy.warnings.join(' ')).toMatch(/only 1000 USD is available/);
    expect(buy.request).not.toBeNull();
    const sell = validateTicket({ ...base, side: 'sell', quantity: '3' }, ctx);
    expect(sell.spendAsset).toBe('BTC');
    expect(sell.warnings.join(' ')).toMatch(/needs 3 BTC but only 2 BTC/);
  });

  it('asks to confirm a price more than 5 % from the last price', () => {
    expect(validateTicket({ ...base, price: '105' }, ctx).confirmReasons).toEqual([]); // exactly 5 %
    const far = validateTicket({ ...base, price: '105.05' }, ctx);
    expect(far.confirmReasons).toEqual(['The price 105.05 is 5.05 % above the last price 100.']);
    expect(validateTicket({ ...base, price: '90' }, ctx).confirmReasons[0]).toMatch(/10 % below/);
  });

  it('asks to confirm an order above the notional threshold', () => {
    const r = validateTicket({ ...base, quantity: '2000' }, { ...ctx, notionalThreshold: '100000' });
    expect(r.confirmReasons).toEqual(['The order is worth 200,100 USD, above 100,000 USD.']);
  });

  it('blocks orders on a halted market', () => {
    const r = validateTicket(base, { ...ctx, market: { ...market, status: 'halted' } });
    expect(r.errors.form).toMatch(/halted/);
    expect(r.request).toBeNull();
  });
});
