import { useQueries, useQuery } from '@tanstack/react-query';
import { marketStatsQuery, marketsQuery } from '../api/queries.ts';
import { errorMessage } from '../api/client.ts';
import { href } from '../lib/router.ts';
import { Num, Signed } from '../components/format.tsx';

export function MarketsPage() {
  const markets = useQuery(marketsQuery());
  const list = markets.data ?? [];
  const stats = useQueries({ queries: list.map((m) => marketStatsQuery(m.marketId, m.currentPrice)) });

  return (
    <section aria-labelledby="markets-title" className="page">
      <h1 id="markets-title">Markets</h1>
      {markets.isPending ? <p role="status">Loading markets…</p> : null}
      {markets.isError ? (
        <p className="error" role="alert">
          Could not load markets: {errorMessage(markets.error)}
        </p>
      ) : null}
      {markets.isSuccess && list.length === 0 ? <p>No markets are listed yet.</p> : null}
      {list.length > 0 ? (
        <div className="table-wrap">
          <table className="table" data-testid="markets-table">
            <caption className="sr-only">Every market with last price, 24 hour change and volume, updating live</caption>
            <thead>
              <tr>
                <th scope="col">Market</th>
                <th scope="col" className="r">
                  Last price
                </th>
                <th scope="col" className="r">
                  24 h change
                </th>
                <th scope="col" className="r">
                  24 h volume
                </th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {list.map((m, i) => {
                const s = stats[i]?.data;
                return (
                  <tr key={m.marketId} data-market-id={m.marketId}>
                    <th scope="row">
                      <a href={href({ name: 'market', marketId: m.marketId })}>{m.symbol}</a>
                      <span className="muted small">
                        {' '}
                        {m.baseAsset}/{m.quoteAsset}
                      </span>
                    </th>
                    <td className="r" data-testid="last-price">
                      <Num value={m.currentPrice ?? s?.last} />
                    </td>
                    <td className="r">
                      <Signed value={s?.change24hPct} suffix=" %" />
                    </td>
                    <td className="r">
                      <Num value={s?.volume24h} /> <span className="muted small">{m.baseAsset}</span>
                    </td>
                    <td>
                      <span className={`pill pill-${m.status}`}>{m.status}</span>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
