/** Loaded lazily: lightweight-charts stays out of the initial bundle. */
import { useEffect, useRef } from 'react';
import { useQuery } from '@tanstack/react-query';
import {
  CandlestickSeries,
  ColorType,
  HistogramSeries,
  createChart,
  type IChartApi,
  type ISeriesApi,
  type UTCTimestamp,
} from 'lightweight-charts';
import { candleTimeMs, candlesQuery } from '../api/queries.ts';
import type { CandleInterval, Market } from '../api/types.ts';
import { errorMessage } from '../api/client.ts';

export default function CandleChart({ market, interval }: { market: Market; interval: CandleInterval }) {
  const candles = useQuery(candlesQuery(market.marketId, interval));
  const el = useRef<HTMLDivElement>(null);
  const chart = useRef<IChartApi | null>(null);
  const series = useRef<{ candles: ISeriesApi<'Candlestick'>; volume: ISeriesApi<'Histogram'> } | null>(null);

  useEffect(() => {
    if (!el.current) return;
    const c = createChart(el.current, {
      autoSize: true,
      layout: {
        background: { type: ColorType.Solid, color: 'transparent' },
        textColor: '#c5cbd6',
        attributionLogo: true,
      },
      grid: { vertLines: { color: '#242a35' }, horzLines: { color: '#242a35' } },
      timeScale: { timeVisible: true, secondsVisible: false, borderColor: '#2f3542' },
      rightPriceScale: { borderColor: '#2f3542' },
    });
    const candleSeries = c.addSeries(CandlestickSeries, {
      upColor: '#23b26d',
      downColor: '#e5484d',
      borderVisible: false,
      wickUpColor: '#23b26d',
      wickDownColor: '#e5484d',
    });
    const volumeSeries = c.addSeries(HistogramSeries, { priceScaleId: '', priceFormat: { type: 'volume' }, color: '#3a4252' });
    volumeSeries.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    chart.current = c;
    series.current = { candles: candleSeries, volume: volumeSeries };
    return () => {
      c.remove();
      chart.current = null;
      series.current = null;
    };
  }, []);

  useEffect(() => {
    const s = series.current;
    if (!s || !candles.data) return;
    // Plotting needs numbers; nothing computed here feeds back into money.
    const rows = [...candles.data]
      .map((k) => ({ t: Math.floor(candleTimeMs(k.time) / 1000) as UTCTimestamp, k }))
      .filter((r) => Number.isFinite(r.t))
      .sort((a, b) => a.t - b.t);
    s.candles.setData(rows.map(({ t, k }) => ({ time: t, open: Number(k.open), high: Number(k.high), low: Number(k.low), close: Number(k.close) })));
    s.volume.setData(
      rows.map(({ t, k }) => ({ time: t, value: Number(k.volume), color: Number(k.close) >= Number(k.open) ? '#1f5f43' : '#6b2a2d' })),
    );
  }, [candles.data]);

  return (
    <div className="chart-wrap">
      {candles.isError ? <p className="error">Chart data unavailable: {errorMessage(candles.error)}</p> : null}
      <div
        ref={el}
        className="chart"
        role="img"
        aria-label={`Candlestick chart of ${market.symbol}, ${interval} candles${candles.data ? `, ${candles.data.length} candles` : ''}`}
        data-testid="candle-chart"
      />
      <p className="attribution small muted">
        Charts by{' '}
        <a href="https://www.tradingview.com/" target="_blank" rel="noopener noreferrer">
          TradingView Lightweight Charts™
        </a>
      </p>
    </div>
  );
}
