/** A listed market's trading rules, as recorded by `MarketListed` (decimal strings at the edge). */
import type { EventData } from '../events.ts';

export type MarketSpec = Pick<
  EventData<'MarketListed'>,
  | 'marketId'
  | 'symbol'
  | 'baseAsset'
  | 'quoteAsset'
  | 'tickSize'
  | 'lotSize'
  | 'referencePrice'
  | 'makerFeeBps'
  | 'takerFeeBps'
  | 'maxOrderQuantity'
  | 'maxOrderNotional'
  | 'priceBandBps'
>;

/** The spec part of a `MarketListed` event's data. */
export function marketSpecOf(listed: EventData<'MarketListed'>): MarketSpec {
  const { listedBy: _listedBy, ...spec } = listed;
  return spec;
}
