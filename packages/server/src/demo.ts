/** Demo markets seeded on the first start of single-node mode. */
import type { ListMarketInput } from '@tradecore/command-api';

export const DEMO_MARKETS: ListMarketInput[] = [
  { symbol: 'BTC-USD', baseAsset: 'BTC', quoteAsset: 'USD', tickSize: '0.01', lotSize: '0.0001', referencePrice: '65000.00', maxOrderQuantity: '100', maxOrderNotional: '5000000' },
  { symbol: 'ETH-USD', baseAsset: 'ETH', quoteAsset: 'USD', tickSize: '0.01', lotSize: '0.001', referencePrice: '3200.00', maxOrderQuantity: '1000', maxOrderNotional: '2000000' },
  { symbol: 'SOL-USD', baseAsset: 'SOL', quoteAsset: 'USD', tickSize: '0.001', lotSize: '0.01', referencePrice: '150.000', maxOrderQuantity: '100000', maxOrderNotional: '1000000' },
];
