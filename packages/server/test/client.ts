/** A small HTTP client for end-to-end tests: real requests against a listening Tradecore. */
export interface Http {
  call<T = unknown>(method: string, path: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<{ status: number; body: T; headers: Headers }>;
}

export function http(baseUrl: string): Http {
  return {
    async call(method, path, options = {}) {
      const headers: Record<string, string> = { ...(options.headers ?? {}) };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      if (options.body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${baseUrl}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : null) as never, headers: res.headers };
    },
  };
}

export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Order {
  orderId: string;
  status: string;
  filledQuantity: string;
  averageFillPrice: string | null;
}
interface Fill {
  tradeId: string;
  orderId: string;
  marketId: number;
  side: string;
  price: string;
  quantity: string;
  fee: string;
  liquidity: string;
}

/**
 * One order end to end through the HTTP contract: user A's resting sell and user B's crossing
 * buy; both orders end `filled` and each user sees their fill.
 */
export async function walkingSkeleton(api: Http, admin: { username: string; password: string }) {
  const login = async (username: string, password: string) => {
    const r = await api.call<{ token: string; user: { userId: number } }>('POST', '/api/v1/auth/login', { body: { username, password } });
    if (r.status !== 200) throw new Error(`login ${username}: ${r.status}`);
    return { token: r.body.token, userId: r.body.user.userId };
  };
  const adminSession = await login(admin.username, admin.password);
  const btc = await eventually('the BTC-USD market', async () => {
    const markets = await api.call<{ marketId: number; symbol: string; tickSize: string; lotSize: string }[]>('GET', '/api/v1/markets');
    return markets.body.find((m) => m.symbol === 'BTC-USD');
  });

  const users: Record<'a' | 'b', { token: string; userId: number }> = {} as never;
  for (const name of ['a', 'b'] as const) {
    const username = `trader_${name}_${Math.random().toString(36).slice(2, 8)}`;
    const reg = await api.call('POST', '/api/v1/auth/register', { body: { username, password: 'correct horse battery' } });
    if (reg.status !== 201) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
    users[name] = await login(username, 'correct horse battery');
  }
  const deposit = async (userId: number, asset: string, amount: string) => {
    const r = await api.call('POST', '/api/v1/admin/deposits', { token: adminSession.token, body: { userId, asset, amount } });
    if (r.status !== 202) throw new Error(`deposit: ${r.status} ${JSON.stringify(r.body)}`);
  };
  await deposit(users.a.userId, 'BTC', '2');
  await deposit(users.b.userId, 'USD', '200000');

  const place = async (token: string, body: Record<string, unknown>) => {
    const r = await api.call<{ orderId: string; position: number }>('POST', '/api/v1/orders', { token, body });
    if (r.status !== 202) throw new Error(`place: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const sell = await place(users.a.token, { marketId: btc.marketId, side: 'sell', type: 'limit', quantity: '0.5', price: '65000.00', timeInForce: 'GTC' });
  // The sell must rest before the buy arrives for A to be the maker.
  await eventually('the sell to rest', async () => {
    const r = await api.call<Order>('GET', `/api/v1/orders/${sell.orderId}`, { token: users.a.token, headers: { 'x-min-position': String(sell.position) } });
    return r.status === 200 && r.body.status === 'open' ? r.body : undefined;
  });
  const buy = await place(users.b.token, { marketId: btc.marketId, side: 'buy', type: 'limit', quantity: '0.5', price: '65000.00', timeInForce: 'GTC' });

  const filled = async (user: { token: string }, orderId: string) =>
    eventually(`order ${orderId} to fill`, async () => {
      const r = await api.call<Order>('GET', `/api/v1/orders/${orderId}`, { token: user.token });
      return r.status === 200 && r.body.status === 'filled' ? r.body : undefined;
    });
  const sellOrder = await filled(users.a, sell.orderId);
  const buyOrder = await filled(users.b, buy.orderId);
  const fills = async (user: { token: string }) =>
    eventually('fills', async () => {
      const r = await api.call<{ items: Fill[] }>('GET', `/api/v1/trades?marketId=${btc.marketId}`, { token: user.token });
      return r.status === 200 && r.body.items.length > 0 ? r.body.items : undefined;
    });
  const sellerFills = await fills(users.a);
  const buyerFills = await fills(users.b);
  const portfolio = async (user: { token: string }) => {
    const r = await api.call<{ balances: { asset: string; available: string; reserved: string }[] }>('GET', '/api/v1/portfolio', { token: user.token });
    return Object.fromEntries(r.body.balances.map((b) => [b.asset, { available: b.available, reserved: b.reserved }]));
  };
  // Orders and trades show a fill as soon as TradeExecuted is projected; the portfolio changes with
  // the risk handler's FillSettled, one engine hop later. Both orders are filled, so once the
  // settlements are projected nothing stays reserved: wait for that, then compare the balances.
  const settled = (user: { token: string }) =>
    eventually('the fill to be settled in the portfolio', async () => {
      const p = await portfolio(user);
      return Object.values(p).every((b) => Number(b.reserved) === 0) ? p : undefined;
    });
  const sellerPortfolio = await settled(users.a);
  const buyerPortfolio = await settled(users.b);
  return { sell, buy, sellOrder, buyOrder, sellerFills, buyerFills, sellerPortfolio, buyerPortfolio, users, marketId: btc.marketId };
}
