import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { OrderTicket } from './OrderTicket.tsx';
import { ToastProvider } from './Toasts.tsx';
import { configureApi, currentMinPosition, request, resetMinPosition } from '../api/client.ts';
import { queryKeys } from '../api/queries.ts';
import type { Market, Portfolio } from '../api/types.ts';
import { installFakeApi } from '../test/fakeApi.ts';

const market: Market = {
  marketId: 1,
  symbol: 'BTC-USD',
  baseAsset: 'BTC',
  quoteAsset: 'USD',
  tickSize: '0.5',
  lotSize: '0.01',
  currentPrice: '100',
  status: 'open',
};

function renderTicket() {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity } } });
  qc.setQueryData<Portfolio>(queryKeys.portfolio(), {
    userId: 3,
    balances: [
      { asset: 'USD', available: '5000', reserved: '0' },
      { asset: 'BTC', available: '1.5', reserved: '0' },
    ],
    positions: [],
  });
  render(
    <QueryClientProvider client={qc}>
      <ToastProvider>
        <OrderTicket market={market} lastPrice="100" />
      </ToastProvider>
    </QueryClientProvider>,
  );
  return qc;
}

beforeEach(() => {
  resetMinPosition();
  configureApi({ getToken: () => 'jwt', onUnauthorized: () => undefined });
});
afterEach(() => vi.unstubAllGlobals());

describe('OrderTicket', () => {
  it('shows notional, fee estimate and available balance as you type', async () => {
    installFakeApi({});
    renderTicket();
    const user = userEvent.setup();
    await user.type(screen.getByLabelText(/^Price/), '101.5');
    await user.type(screen.getByLabelText(/^Quantity/), '2');
    expect(screen.getByTestId('ticket-notional').textContent).toBe('203 USD');
    expect(screen.getByTestId('ticket-fee').textContent).toBe('0.203 USD');
    expect(screen.getByTestId('ticket-available').textContent).toBe('5,000 USD');
    await user.click(screen.getByLabelText('Sell'));
    expect(screen.getByTestId('ticket-available').textContent).toBe('1.5 BTC');
  });

  it('validates tick and lot before sending anything', async () => {
    const { fetchMock } = installFakeApi({});
    renderTicket();
    const user = userEvent.setup();
    await user.type(screen.getByLabelText(/^Price/), '100.3');
    await user.type(screen.getByLabelText(/^Quantity/), '0.015');
    await user.click(screen.getByRole('button', { name: 'Buy BTC' }));
    expect(screen.getByText('Price must be a multiple of the tick size 0.5 (for example 100).')).toBeTruthy();
    expect(screen.getByText('Quantity must be a multiple of the lot size 0.01 (for example 0.01).')).toBeTruthy();
    expect(screen.getByLabelText(/^Price/).getAttribute('aria-invalid')).toBe('true');
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('asks to confirm a price far from the last price, then sends exact decimals with an idempotency key', async () => {
    const { requests } = installFakeApi({
      'POST /orders': () => ({ status: 202, body: { orderId: 'abc12345-0000', clientOrderId: 'x', status: 'pending', position: 41 }, headers: { 'X-Event-Position': '41' } }),
    });
    renderTicket();
    const user = userEvent.setup();
    await user.type(screen.getByLabelText(/^Price/), '110');
    await user.type(screen.getByLabelText(/^Quantity/), '0.1');
    await user.click(screen.getByRole('button', { name: 'Buy BTC' }));
    const dialog = await screen.findByRole('dialog', { name: 'Confirm order' });
    expect(dialog.textContent).toContain('The price 110 is 10 % above the last price 100.');
    expect(requests).toHaveLength(0);
    await user.click(screen.getByRole('button', { name: 'Confirm and send' }));
    await waitFor(() => expect(requests.filter((r) => r.method === 'POST')).toHaveLength(1));
    const post = requests.find((r) => r.method === 'POST')!;
    expect(post.body).toMatchObject({ marketId: 1, side: 'buy', type: 'limit', price: '110', quantity: '0.1', timeInForce: 'GTC', postOnly: false });
    expect(post.headers['idempotency-key']).toBe((post.body as { clientOrderId: string }).clientOrderId);
    expect(post.headers.authorization).toBe('Bearer jwt');
    await screen.findByText(/Order sent: buy 0.1 BTC @ 110/);
    // read-your-writes: the next read carries the position of the 202
    expect(currentMinPosition()).toBe('41');
  });

  it('sends X-Min-Position on reads after a write', async () => {
    const { requests } = installFakeApi({ 'GET /portfolio': () => ({ status: 200, body: { userId: 1, balances: [], positions: [] } }) });
    await request('/portfolio');
    expect(requests[0]?.headers['x-min-position']).toBeUndefined();
    const { notePosition } = await import('../api/client.ts');
    notePosition('17');
    notePosition('9'); // never goes back
    await request('/portfolio');
    expect(requests[1]?.headers['x-min-position']).toBe('17');
  });
});
