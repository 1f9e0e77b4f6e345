import { useQuery } from '@tanstack/react-query';
import { portfolioQuery } from '../api/queries.ts';
import { errorMessage } from '../api/client.ts';
import { add, formatDecimal, parseDecimal } from '../lib/decimal.ts';
import { Num, Signed } from '../components/format.tsx';
import type { User } from '../api/types.ts';

export function PortfolioPage({ user }: { user: User }) {
  const portfolio = useQuery(portfolioQuery());
  return (
    <section className="page" aria-labelledby="portfolio-title">
      <h1 id="portfolio-title">Portfolio</h1>
      <p className="muted">
        Account <strong data-testid="account-username">{user.username}</strong>, user id{' '}
        <strong data-testid="account-user-id">{user.userId}</strong>
      </p>
      {portfolio.isPending ? <p role="status">Loading portfolio…</p> : null}
      {portfolio.isError ? (
        <p className="error" role="alert">
          Portfolio unavailable: {errorMessage(portfolio.error)}
        </p>
      ) : null}
      {portfolio.data ? (
        <>
          <section className="panel" aria-labelledby="balances-title">
            <h2 id="balances-title">Balances</h2>
            {portfolio.data.balances.length === 0 ? (
              <p className="muted">No balances yet. An administrator can credit a deposit.</p>
            ) : (
              <div className="table-wrap">
                <table className="table" data-testid="balances">
                  <thead>
                    <tr>
                      <th scope="col">Asset</th>
                      <th scope="col" className="r">
                        Available
                      </th>
                      <th scope="col" className="r">
                        Reserved
                      </th>
                      <th scope="col" className="r">
                        Total
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {portfolio.data.balances.map((b) => {
                      const a = parseDecimal(b.available);
                      const r = parseDecimal(b.reserved);
                      return (
                        <tr key={b.asset} data-asset={b.asset}>
                          <th scope="row">{b.asset}</th>
                          <td className="r" data-testid="balance-available">
                            <Num value={b.available} />
                          </td>
                          <td className="r" data-testid="balance-reserved">
                            <Num value={b.reserved} />
                          </td>
                          <td className="r">{a && r ? formatDecimal(add(a, r), { group: true }) : '—'}</td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            )}
          </section>
          <section className="panel" aria-labelledby="positions-title">
            <h2 id="positions-title">Positions</h2>
            {portfolio.data.positions.length === 0 ? (
              <p className="muted">No positions.</p>
            ) : (
              <div className="table-wrap">
                <table className="table" data-testid="positions">
                  <thead>
                    <tr>
                      <th scope="col">Market</th>
                      <th scope="col" className="r">
                        Quantity
                      </th>
                      <th scope="col" className="r">
                        Average price
                      </th>
                      <th scope="col" className="r">
                        Market price
                      </th>
                      <th scope="col" className="r">
                        Realized PnL
                      </th>
                      <th scope="col" className="r">
                        Unrealized PnL
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {portfolio.data.positions.map((p) => (
                      <tr key={p.marketId} data-market-id={p.marketId}>
                        <th scope="row">{p.symbol}</th>
                        <td className="r" data-testid="position-quantity">
                          <Num value={p.quantity} />
                        </td>
                        <td className="r">
                          <Num value={p.averagePrice} />
                        </td>
                        <td className="r">
                          <Num value={p.marketPrice} />
                        </td>
                        <td className="r">
                          <Signed value={p.realizedPnl} />
                        </td>
                        <td className="r">
                          <Signed value={p.unrealizedPnl} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>
        </>
      ) : null}
    </section>
  );
}
