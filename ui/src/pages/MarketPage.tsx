import { lazy, Suspense, useCallback, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { marketQuery, marketStatsQuery, marketsQuery } from '../api/queries.ts';
import { errorMessage, isApiError } from '../api/client.ts';
import type { CandleInterval } from '../api/types.ts';
import { OrderBook } from '../components/OrderBook.tsx';
import { TradesTape } from '../components/TradesTape.tsx';
import { OrderTicket } from '../components/OrderTicket.tsx';
import { FillsTable, OpenOrdersTable } from '../components/Orders.tsx';
import { Num, Signed } from '../components/format.tsx';
import { TradingBanners } from '../components/Banners.tsx';

const CandleChart = lazy(() => import('../components/CandleChart.tsx'));
const INTERVALS: CandleInterval[] = ['1m', '5m', '1h', '1d'];

export function MarketPage({ marketId }: { marketId: number }) {
  const markets = useQuery(marketsQuery());
  const fromList = markets.data?.find((m) => m.marketId === marketId);
  const single = useQuery({ ...marketQuery(marketId), enabled: !fromList && !markets.isPending });
  const market = fromList ?? single.data;
  const stats = useQuery({ ...marketStatsQuery(marketId, market?.currentPrice ?? null), enabled: Boolean(market) });
  const [interval, setInterval] = useState<CandleInterval>('1m');
  const [picked, setPicked] = useState<{ price: string; n: number } | null>(null);
  const pick = useCallback((price: string) => setPicked((p) => ({ price, n: (p?.n ?? 0) + 1 })), []);

  if (!market) {
    if (single.isError)
      return (
        <section className="page">
          <h1>Market</h1>
          <p className="error" role="alert">
            {isApiError(single.error, 404) ? `Market ${marketId} does not exist.` : errorMessage(single.error)}
          </p>
        </section>
      );
    return (
      <section className="page">
        <p role="status">Loading market…</p>
      </section>
    );
  }

  const last = market.currentPrice ?? stats.data?.last ?? null;
  return (
    <section className="page market-page" aria-labelledby="market-title">
      <TradingBanners markets={markets.data} marketId={marketId} />
      <header className="market-header">
        <h1 id="market-title">{market.symbol}</h1>
        <dl className="stats">
          <div>
            <dt>Last</dt>
            <dd data-testid="market-last">
              <Num value={last} />
            </dd>
          </div>
          <div>
            <dt>24 h</dt>
            <dd>
              <Signed value={stats.data?.change24hPct} suffix=" %" />
            </dd>
          </div>
          <div>
            <dt>24 h volume</dt>
            <dd>
              <Num value={stats.data?.volume24h} /> {market.baseAsset}
            </dd>
          </div>
          <div>
            <dt>Status</dt>
            <dd>
              <span className={`pill pill-${market.status}`}>{market.status}</span>
            </dd>
          </div>
        </dl>
      </header>

      <div className="market-grid">
        <section className="panel chart-panel" aria-labelledby="chart-title">
          <div className="panel-head">
            <h2 id="chart-title">Chart</h2>
            <div role="group" aria-label="Candle interval" className="interval-group">
              {INTERVALS.map((i) => (
                <button key={i} type="button" aria-pressed={interval === i} onClick={() => setInterval(i)}>
                  {i}
                </button>
              ))}
            </div>
          </div>
          <Suspense fallback={<div className="chart chart-loading" role="status">Loading chart…</div>}>
            <CandleChart market={market} interval={interval} />
          </Suspense>
        </section>

        <section className="panel book-panel" aria-labelledby="book-title">
          <h2 id="book-title">Order book</h2>
          <OrderBook market={market} onPickPrice={pick} />
        </section>

        <section className="panel ticket-panel" aria-labelledby="ticket-title">
          <h2 id="ticket-title">Place order</h2>
          <OrderTicket market={market} lastPrice={last} pickedPrice={picked} />
        </section>

        <section className="panel tape-panel" aria-labelledby="tape-title">
          <h2 id="tape-title">Trades</h2>
          <TradesTape market={market} />
        </section>

        <section className="panel orders-panel" aria-labelledby="mo-title">
          <h2 id="mo-title">My open orders in {market.symbol}</h2>
          <OpenOrdersTable marketId={marketId} />
          <h3>My fills in {market.symbol}</h3>
          <FillsTable marketId={marketId} />
        </section>
      </div>
    </section>
  );
}
