import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { App, createQueryClient } from './App.tsx';
import { SessionStore } from './session/store.ts';
import { resetMinPosition } from './api/client.ts';
import { setKillSwitch } from './lib/controlState.ts';
import type { Market, Order } from './api/types.ts';
import { installFakeApi, type Handler } from './test/fakeApi.ts';
import { FakeEventSource } from './test/fakeEventSource.ts';

vi.mock('./components/CandleChart.tsx', () => ({ default: () => <div data-testid="candle-chart">chart</div> }));

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
const alice = { userId: 3, username: 'alice', roles: ['trader'] };

function baseRoutes(over: Record<string, Handler> = {}): Record<string, Handler> {
  return {
    'GET /markets': () => ({ status: 200, body: [market] }),
    'GET /markets/1/book*': () => ({ status: 200, body: { marketId: 1, bids: [{ price: '99.5', quantity: '1' }], asks: [{ price: '100.5', quantity: '2' }] } }),
    'GET /markets/1/trades*': () => ({ status: 200, body: { items: [], nextCursor: null } }),
    'GET /markets/1/candles*': () => ({ status: 200, body: [] }),
    'GET /orders*': () => ({ status: 200, body: { items: [], nextCursor: null } }),
    'GET /trades*': () => ({ status: 200, body: { items: [], nextCursor: null } }),
    'GET /portfolio': () => ({ status: 200, body: { userId: 3, balances: [{ asset: 'USD', available: '1000', reserved: '0' }], positions: [] } }),
    ...over,
  };
}

function signedIn(): SessionStore {
  return new SessionStore({ token: 'token-1', expiresAt: new Date(Date.now() + 3_600_000).toISOString(), user: alice, expired: false });
}

beforeEach(() => {
  resetMinPosition();
  setKillSwitch(null);
  FakeEventSource.instances = [];
});
afterEach(() => {
  vi.unstubAllGlobals();
  window.location.hash = '';
});

describe('session expiry', () => {
  it('on a 401 shows sign-in over the page, keeps the order being typed, and restores it after login', async () => {
    window.location.hash = '#/markets/1';
    const { requests } = installFakeApi(
      baseRoutes({
        'POST /orders': () => ({ status: 401, body: { title: 'Unauthorized', status: 401, detail: 'token expired' } }),
        'POST /auth/login': () => ({
          status: 200,
          body: { token: 'token-2', tokenType: 'Bearer', expiresAt: new Date(Date.now() + 3_600_000).toISOString(), user: alice },
        }),
      }),
    );
    const store = signedIn();
    render(<App queryClient={createQueryClient()} store={store} EventSourceImpl={FakeEventSource} />);
    const user = userEvent.setup();

    await screen.findByRole('heading', { name: 'Place order' });
    await user.type(screen.getByLabelText(/^Price/), '100');
    await user.type(screen.getByLabelText(/^Quantity/), '0.5');
    await user.click(screen.getByRole('button', { name: 'Buy BTC' }));

    const overlay = await screen.findByTestId('session-expired');
    expect(within(overlay).getByRole('heading', { name: 'Session expired' })).toBeTruthy();
    const username = within(overlay).getByLabelText<HTMLInputElement>('Username');
    expect(username.value).toBe('alice');
    expect(store.get().expired).toBe(true);
    expect(store.token()).toBeNull();
    // the page is still there, hidden and inert, with the typed values
    const price = document.querySelector<HTMLInputElement>('input[name="price"]')!;
    expect(price.value).toBe('100');
    expect(price.closest('.shell-host')?.hasAttribute('hidden')).toBe(true);

    await user.type(within(overlay).getByLabelText('Password'), 'secret-pass');
    await user.click(within(overlay).getByRole('button', { name: 'Sign in' }));

    await waitFor(() => expect(screen.queryByTestId('session-expired')).toBeNull());
    expect(requests.find((r) => r.path === '/auth/login')?.body).toEqual({ username: 'alice', password: 'secret-pass' });
    expect(screen.getByLabelText<HTMLInputElement>(/^Price/).value).toBe('100');
    expect(screen.getByLabelText<HTMLInputElement>(/^Quantity/).value).toBe('0.5');
    expect(store.token()).toBe('token-2');
    // the stream reconnects with the new token
    await waitFor(() => expect(FakeEventSource.instances.at(-1)?.url).toContain('access_token=token-2'));
  });

  it('an expired token found at start goes straight to sign-in', async () => {
    installFakeApi(baseRoutes());
    const store = new SessionStore({ token: 'old', expiresAt: new Date(Date.now() - 1000).toISOString(), user: alice, expired: false });
    render(<App queryClient={createQueryClient()} store={store} EventSourceImpl={FakeEventSource} />);
    await screen.findByTestId('session-expired');
  });
});

describe('live updates in the app', () => {
  it('toasts a rejection with its reason in words and a fill; shows a kill-switch banner', async () => {
    window.location.hash = '#/markets';
    installFakeApi(baseRoutes());
    render(<App queryClient={createQueryClient()} store={signedIn()} EventSourceImpl={FakeEventSource} />);
    await screen.findByTestId('markets-table');
    await waitFor(() => expect(FakeEventSource.instances.length).toBeGreaterThan(0));
    const es = FakeEventSource.instances.at(-1)!;
    act(() => es.open());
    await screen.findByText('Live');

    const now = new Date().toISOString();
    const order: Order = {
      orderId: 'o-1',
      clientOrderId: null,
      marketId: 1,
      side: 'buy',
      type: 'limit',
      timeInForce: 'GTC',
      price: '100',
      quantity: '1',
      filledQuantity: '0',
      averageFillPrice: null,
      status: 'rejected',
      rejectReason: 'kill_switch',
      createdAt: now,
      updatedAt: now,
    };
    act(() => es.emit('order', order, '5'));
    await screen.findByText('Trading is stopped by a kill switch; new orders are not accepted right now.');
    await screen.findByTestId('kill-switch-banner');

    act(() => es.emit('order', { ...order, orderId: 'o-2', status: 'filled', rejectReason: null, filledQuantity: '1', averageFillPrice: '100' }, '6'));
    await screen.findByText(/Filled: buy 1 BTC BTC-USD/);
  });

  it('updates the markets list live from trade messages', async () => {
    window.location.hash = '#/markets';
    installFakeApi(baseRoutes());
    const qc = createQueryClient();
    render(<App queryClient={qc} store={signedIn()} EventSourceImpl={FakeEventSource} />);
    await screen.findByTestId('markets-table');
    await waitFor(() => expect(FakeEventSource.instances.length).toBeGreaterThan(0));
    const es = FakeEventSource.instances.at(-1)!;
    act(() => es.open());
    // the (re)connect refetch settles first
    await waitFor(() => expect(qc.isFetching()).toBe(0));
    act(() =>
      es.emit('trade', { marketId: 1, tradeId: 't9', price: '123.5', quantity: '0.2', takerSide: 'buy', tradeTime: new Date().toISOString() }, '9'),
    );
    await waitFor(() => expect(screen.getByTestId('last-price').textContent).toBe('123.5'));
  });

  it('shows a banner when a market is halted', async () => {
    window.location.hash = '#/markets';
    installFakeApi(baseRoutes({ 'GET /markets': () => ({ status: 200, body: [{ ...market, status: 'halted' }] }) }));
    render(<App queryClient={createQueryClient()} store={signedIn()} EventSourceImpl={FakeEventSource} />);
    const banner = await screen.findByTestId('halt-banner');
    expect(banner.textContent).toContain('Trading halted on BTC-USD');
  });
});
