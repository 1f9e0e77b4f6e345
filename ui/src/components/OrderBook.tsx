import { useQuery } from '@tanstack/react-query';
import { bookQuery } from '../api/queries.ts';
import type { BookLevel, Market } from '../api/types.ts';
import { add, cmp, dec, div, formatDecimal, parseDecimal, sub, type Dec } from '../lib/decimal.ts';
import { errorMessage } from '../api/client.ts';

interface Row {
  price: string;
  quantity: string;
  total: Dec;
}

function withTotals(levels: readonly BookLevel[]): Row[] {
  let total = dec('0');
  return levels.map((l) => {
    total = add(total, parseDecimal(l.quantity) ?? dec('0'));
    return { price: l.price, quantity: l.quantity, total };
  });
}

function depthPct(total: Dec, max: Dec): number {
  if (max.units <= 0n) return 0;
  // Whole percent, exact integer arithmetic; only used for the bar width.
  return Number(div(total, max, 2).units);
}

export function OrderBook({ market, onPickPrice }: { market: Market; onPickPrice: (price: string) => void }) {
  const book = useQuery(bookQuery(market.marketId));
  if (book.isPending) return <p role="status">Loading order book…</p>;
  if (book.isError) return <p className="error">Order book unavailable: {errorMessage(book.error)}</p>;
  const bids = withTotals(book.data.bids);
  const asks = withTotals(book.data.asks);
  const maxBid = bids[bids.length - 1]?.total ?? dec('0');
  const maxAsk = asks[asks.length - 1]?.total ?? dec('0');
  const max = cmp(maxBid, maxAsk) >= 0 ? maxBid : maxAsk;
  const bestBid = parseDecimal(bids[0]?.price);
  const bestAsk = parseDecimal(asks[0]?.price);
  const spread = bestBid && bestAsk ? formatDecimal(sub(bestAsk, bestBid)) : null;

  const row = (r: Row, side: 'bid' | 'ask') => (
    <tr key={`${side}-${r.price}`} className={`book-row book-${side}`}>
      <td className="r">
        <button
          type="button"
          className="price-button"
          aria-label={`Use price ${r.price} (${side === 'bid' ? 'bid' : 'ask'}, ${r.quantity} ${market.baseAsset})`}
          onClick={() => onPickPrice(r.price)}
        >
          {r.price}
        </button>
      </td>
      <td className="r num">{r.quantity}</td>
      <td className="r num depth-cell">
        <span className="depth-bar" style={{ width: `${Math.min(100, depthPct(r.total, max))}%` }} aria-hidden="true" />
        <span className="depth-value">{formatDecimal(r.total)}</span>
      </td>
    </tr>
  );

  return (
    <div className="book" data-testid="order-book">
      <table className="table compact">
        <caption className="sr-only">
          Order book for {market.symbol}: asks above, bids below, best prices next to the spread
        </caption>
        <thead>
          <tr>
            <th scope="col" className="r">
              Price ({market.quoteAsset})
            </th>
            <th scope="col" className="r">
              Size ({market.baseAsset})
            </th>
            <th scope="col" className="r">
              Total
            </th>
          </tr>
        </thead>
        <tbody aria-label="Asks">
          {asks.length === 0 ? (
            <tr>
              <td colSpan={3} className="muted center">
                No asks
              </td>
            </tr>
          ) : (
            [...asks].reverse().map((r) => row(r, 'ask'))
          )}
        </tbody>
        <tbody>
          <tr className="spread-row">
            <td colSpan={3} className="center muted">
              {spread !== null ? `Spread ${spread}` : 'Spread —'}
            </td>
          </tr>
        </tbody>
        <tbody aria-label="Bids">
          {bids.length === 0 ? (
            <tr>
              <td colSpan={3} className="muted center">
                No bids
              </td>
            </tr>
          ) : (
            bids.map((r) => row(r, 'bid'))
          )}
        </tbody>
      </table>
    </div>
  );
}
