/** Machine-readable reject reasons (contract + event catalogue) in words a trader understands. */
const REASONS: Record<string, string> = {
  insufficient_funds: 'Not enough available funds to cover this order and its fee.',
  insufficient_position: 'You do not hold enough of the asset to sell this quantity.',
  max_order_quantity: 'The quantity is above the largest order size this market allows.',
  max_order_notional: 'The order value is above the largest order value this market allows.',
  price_band: 'The price is too far from the current market price (outside the allowed price band).',
  kill_switch: 'Trading is stopped by a kill switch; new orders are not accepted right now.',
  market_halted: 'This market is halted; orders are not accepted until it resumes.',
  self_trade: 'The order would have traded against one of your own orders.',
  fok_unfillable: 'Fill-or-kill order could not be filled completely at once, so nothing was filled.',
  post_only_would_take: 'Post-only order would have traded immediately, so it was not placed.',
  no_liquidity: 'There were no matching orders on the other side of the book.',
  max_open_orders: 'You have reached the maximum number of open orders.',
  order_rate: 'Too many orders in a short time; slow down and try again.',
  unknown_market: 'This market does not exist.',
  unknown_order: 'The order was not found.',
  order_not_open: 'The order is no longer open, so it cannot be changed.',
  // The exchange failed on the order (an operator is alerted). Risk may have failed before it
  // reserved anything, or the matching engine after, in which case the reservation was released:
  // either way nothing was filled and nothing stays held, so the sentence must not say funds were held.
  engine_error: 'The exchange could not process this order; nothing was filled and none of your funds are held for it.',
};

export const KNOWN_REJECT_REASONS: readonly string[] = Object.keys(REASONS);

/** A sentence for a reject reason code; unknown codes still read as words. */
export function rejectReasonText(code: string | null | undefined): string {
  if (!code) return 'The order was rejected.';
  const known = REASONS[code];
  if (known) return known;
  const words = code.replace(/[_-]+/g, ' ').trim();
  return `The order was rejected (${words}).`;
}

/**
 * Where the order's sentence would be false of a refused amend (the order was placed and keeps its
 * terms; only the change was refused). The other reasons read the same for an order and an amend.
 */
const AMEND_REASONS: Record<string, string> = {
  kill_switch: 'Trading is stopped by a kill switch; amends are not accepted right now.',
  market_halted: 'This market is halted; amends are not accepted until it resumes.',
  post_only_would_take: 'The new price would have traded immediately, and the order is post-only.',
  invalid_price: 'The new price is not a multiple of the market’s tick size.',
  invalid_quantity: 'The new quantity is not a multiple of the market’s lot size.',
  engine_error: 'The exchange could not process this amend; the order keeps its terms.',
};

/** A sentence for why an amend was refused (by risk or by the book); unknown codes still read as words. */
export function amendRejectReasonText(code: string | null | undefined): string {
  if (!code) return 'The amend was refused.';
  const known = AMEND_REASONS[code] ?? REASONS[code];
  if (known) return known;
  return `The amend was refused (${code.replace(/[_-]+/g, ' ').trim()}).`;
}
