import { describe, expect, it } from 'vitest';
import { KNOWN_REJECT_REASONS, amendRejectReasonText, rejectReasonText } from './rejectReasons.ts';

describe('reject reasons in words', () => {
  it('has a sentence for every reason of the contract', () => {
    for (const code of [
      'insufficient_funds',
      'insufficient_position',
      'max_order_notional',
      'price_band',
      'kill_switch',
      'market_halted',
      'self_trade',
      'fok_unfillable',
      'engine_error',
    ]) {
      expect(KNOWN_REJECT_REASONS).toContain(code);
      const text = rejectReasonText(code);
      expect(text).toMatch(/^[A-Z].*\.$/);
      expect(text).not.toContain('_');
    }
  });

  it('words specific reasons plainly', () => {
    expect(rejectReasonText('insufficient_funds')).toBe('Not enough available funds to cover this order and its fee.');
    expect(rejectReasonText('kill_switch')).toMatch(/kill switch/);
    expect(rejectReasonText('max_order_notional')).toMatch(/largest order value/);
  });

  it('words engine_error so that it is true whichever handler failed (risk before reserving anything, or the book after)', () => {
    expect(rejectReasonText('engine_error')).toBe('The exchange could not process this order; nothing was filled and none of your funds are held for it.');
    // risk's engine_error reserved nothing: no sentence about funds that were held and came back
    expect(rejectReasonText('engine_error')).not.toMatch(/held are available again|funds it held/);
  });

  it('still reads an unknown code as words', () => {
    expect(rejectReasonText('brand_new_rule')).toBe('The order was rejected (brand new rule).');
    expect(rejectReasonText(null)).toBe('The order was rejected.');
  });
});

describe('amend reject reasons in words', () => {
  it('has a sentence for every reason risk or the book gives for refusing an amend, about the amend, not a new order', () => {
    for (const code of ['insufficient_funds', 'insufficient_position', 'max_order_quantity', 'max_order_notional', 'price_band', 'kill_switch', 'market_halted', 'order_not_open', 'post_only_would_take', 'invalid_price', 'invalid_quantity', 'engine_error']) {
      const text = amendRejectReasonText(code);
      expect(text, code).toMatch(/^[A-Z].*\.$/);
      expect(text, code).not.toContain('_');
      // the order was never placed anew, so no sentence may say it was not placed or was rejected
      expect(text, code).not.toMatch(/not placed|order was rejected/);
    }
  });

  it('reuses the order sentences where they hold for an amend, and words the others for the amend', () => {
    expect(amendRejectReasonText('insufficient_funds')).toBe(rejectReasonText('insufficient_funds'));
    expect(amendRejectReasonText('order_not_open')).toBe(rejectReasonText('order_not_open'));
    expect(amendRejectReasonText('post_only_would_take')).toMatch(/post-only/i);
    expect(amendRejectReasonText('engine_error')).toMatch(/keeps its terms/);
    expect(amendRejectReasonText('brand_new_rule')).toBe('The amend was refused (brand new rule).');
    expect(amendRejectReasonText(null)).toBe('The amend was refused.');
  });
});
