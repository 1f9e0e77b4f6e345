import { useQuery } from '@tanstack/react-query';
import { marketTradesQuery } from '../api/queries.ts';
import type { Market } from '../api/types.ts';
import { errorMessage } from '../api/client.ts';
import { time } from './format.tsx';

export function TradesTape({ market }: { market: Market }) {
  const trades = useQuery(marketTradesQuery(market.marketId));
  if (trades.isPending) return <p role="status">Loading trades…</p>;
  if (trades.isError) return <p className="error">Trades unavailable: {errorMessage(trades.error)}</p>;
  const items = trades.data.items;
  return (
    <div className="tape" data-testid="trades-tape">
      <table className="table compact">
        <caption className="sr-only">Latest trades in {market.symbol}, newest first</caption>
        <thead>
          <tr>
            <th scope="col" className="r">
              Price
            </th>
            <th scope="col" className="r">
              Size
            </th>
            <th scope="col" className="r">
              Time
            </th>
          </tr>
        </thead>
        <tbody>
          {items.length === 0 ? (
            <tr>
              <td colSpan={3} className="muted center">
                No trades yet
              </td>
            </tr>
          ) : (
            items.map((t) => (
              <tr key={t.tradeId}>
                <td className={`r num ${t.takerSide === 'buy' ? 'up' : 'down'}`}>
                  {t.price}
                  <span className="sr-only"> ({t.takerSide === 'buy' ? 'buyer' : 'seller'} took)</span>
                </td>
                <td className="r num">{t.quantity}</td>
                <td className="r muted">{time(t.tradeTime)}</td>
              </tr>
            ))
          )}
        </tbody>
      </table>
    </div>
  );
}
