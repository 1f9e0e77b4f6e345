import { useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import { QueryClient, QueryClientProvider, useQuery, useQueryClient, type QueryKey } from '@tanstack/react-query';
import { configureApi, isApiError, resetMinPosition } from './api/client.ts';
import { marketsQuery, ordersQuery } from './api/queries.ts';
import { LiveStream, type ConnectionStatus, type EventSourceLike } from './api/stream.ts';
import type { LoginResponse, Market, Order, Page, User } from './api/types.ts';
import { clearDrafts, sessionStore as defaultStore, type SessionStore } from './session/store.ts';
import { href, navigate, useRoute, type Route } from './lib/router.ts';
import { OrderNotifier } from './lib/notifier.ts';
import { rejectReasonText } from './lib/rejectReasons.ts';
import { formatDecimal } from './lib/decimal.ts';
import { setKillSwitch, getKillSwitch } from './lib/controlState.ts';
import { ToastProvider, useToast } from './components/Toasts.tsx';
import { ConnectionIndicator } from './components/ConnectionIndicator.tsx';
import { TradingBanners } from './components/Banners.tsx';
import { AuthPage } from './pages/AuthPage.tsx';
import { MarketsPage } from './pages/MarketsPage.tsx';
import { MarketPage } from './pages/MarketPage.tsx';
import { OrdersPage } from './pages/OrdersPage.tsx';
import { PortfolioPage } from './pages/PortfolioPage.tsx';
import { AdminPage } from './pages/AdminPage.tsx';

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        retry: (count, err) => !(isApiError(err) && err.status >= 400 && err.status < 500 && err.status !== 429) && count < 3,
        refetchOnWindowFocus: true,
      },
      mutations: { retry: false },
    },
  });
}

export interface AppProps {
  queryClient?: QueryClient;
  store?: SessionStore;
  EventSourceImpl?: new (url: string) => EventSourceLike;
}

export function App({ queryClient, store = defaultStore, EventSourceImpl }: AppProps) {
  const qc = useMemo(() => queryClient ?? createQueryClient(), [queryClient]);
  useMemo(() => configureApi({ getToken: store.token, onUnauthorized: store.expire }), [store]);
  return (
    <QueryClientProvider client={qc}>
      <ToastProvider>
        <Root store={store} {...(EventSourceImpl ? { EventSourceImpl } : {})} />
      </ToastProvider>
    </QueryClientProvider>
  );
}

function Root({ store, EventSourceImpl }: { store: SessionStore; EventSourceImpl?: AppProps['EventSourceImpl'] }) {
  const state = useSyncExternalStore(store.subscribe, store.get);
  const qc = useQueryClient();
  const route = useRoute();

  // Expire proactively when the token's time is up.
  useEffect(() => {
    if (!state.expiresAt || !state.token) return;
    const ms = Date.parse(state.expiresAt) - Date.now();
    const t = setTimeout(store.expire, Math.max(0, Math.min(ms, 2_147_000_000)));
    return () => clearTimeout(t);
  }, [state.expiresAt, state.token, store]);

  const onSignedIn = (res: LoginResponse) => {
    const previous = store.get().user;
    const sameUser = previous?.userId === res.user.userId;
    if (!sameUser) {
      if (previous) clearDrafts();
      qc.clear();
      resetMinPosition();
      setKillSwitch(null);
    }
    store.signedIn(res);
    if (sameUser) void qc.invalidateQueries();
    else if (route.name === 'signin' || route.name === 'signup') navigate({ name: 'markets' });
  };

  if (!state.user) {
    return (
      <AuthPage
        key={route.name === 'signup' ? 'signup' : 'signin'}
        mode={route.name === 'signup' ? 'signup' : 'signin'}
        onSignedIn={onSignedIn}
        onSwitchMode={(m) => navigate({ name: m })}
      />
    );
  }

  return (
    <>
      <div className="shell-host" inert={state.expired} aria-hidden={state.expired || undefined} hidden={state.expired}>
        <Shell
          key={state.user.userId}
          user={state.user}
          token={state.token}
          route={route}
          store={store}
          {...(EventSourceImpl ? { EventSourceImpl } : {})}
        />
      </div>
      {state.expired ? (
        <div className="expired-overlay" data-testid="session-expired">
          <AuthPage mode="signin" expiredUsername={state.user.username} onSignedIn={onSignedIn} />
        </div>
      ) : null}
    </>
  );
}

function useLiveStream(token: string | null, store: SessionStore, EventSourceImpl?: AppProps['EventSourceImpl']): ConnectionStatus {
  const qc = useQueryClient();
  const [status, setStatus] = useState<ConnectionStatus>('offline');
  useEffect(() => {
    if (!token) {
      setStatus('offline');
      return;
    }
    const stream = new LiveStream({
      queryClient: qc,
      getToken: store.token,
      isExpired: store.isExpired,
      onExpired: store.expire,
      onStatus: setStatus,
      ...(EventSourceImpl ? { EventSourceImpl } : {}),
    });
    stream.start();
    const online = () => stream.reconnectNow();
    window.addEventListener('online', online);
    return () => {
      window.removeEventListener('online', online);
      stream.stop();
    };
  }, [token, qc, store, EventSourceImpl]);
  return status;
}

function useOrderNotifications(markets: readonly Market[] | undefined) {
  const qc = useQueryClient();
  const toast = useToast();
  const marketsRef = useRef(markets);
  marketsRef.current = markets;
  useEffect(() => {
    const notifier = new OrderNotifier(Date.now());
    const symbol = (o: Order) => {
      const m = marketsRef.current?.find((x) => x.marketId === o.marketId);
      return { symbol: m?.symbol ?? `market ${o.marketId}`, base: m?.baseAsset ?? '' };
    };
    const handle = (orders: readonly Order[]) => {
      for (const n of notifier.observe(orders)) {
        const { symbol: sym, base } = symbol(n.order);
        switch (n.kind) {
          case 'fill':
            toast({
              kind: 'success',
              title: `${n.complete ? 'Filled' : 'Partially filled'}: ${n.order.side} ${formatDecimal(n.quantity)} ${base} ${sym}`,
              body: n.order.averageFillPrice ? `Average price ${n.order.averageFillPrice}` : undefined,
            });
            break;
          case 'rejected':
            toast({ kind: 'error', title: `Order rejected: ${n.order.side} ${n.order.quantity} ${base} ${sym}`, body: rejectReasonText(n.order.rejectReason) });
            if (n.order.rejectReason === 'kill_switch')
              setKillSwitch({ scope: 'unknown', marketId: n.order.marketId, reason: '', since: Date.parse(n.order.createdAt) || Date.now() });
            break;
          case 'accepted': {
            const ks = getKillSwitch();
            if (ks && ks.scope === 'unknown' && (Date.parse(n.order.createdAt) || 0) > ks.since) setKillSwitch(null);
            break;
          }
        }
      }
    };
    for (const [, page] of qc.getQueriesData<Page<Order>>({ queryKey: ['orders'] })) if (page) handle(page.items);
    return qc.getQueryCache().subscribe((ev) => {
      if (ev.type !== 'updated' || ev.action.type !== 'success') return;
      const key = ev.query.queryKey as QueryKey;
      const data: unknown = ev.query.state.data;
      if (key[0] === 'orders' && data && typeof data === 'object' && 'items' in data) handle((data as Page<Order>).items);
      else if (key[0] === 'order' && data) handle([data as Order]);
    });
  }, [qc, toast]);
}

function NavLink({ to, label, current }: { to: Route; label: string; current: boolean }) {
  return (
    <a href={href(to)} aria-current={current ? 'page' : undefined} className={current ? 'active' : undefined}>
      {label}
    </a>
  );
}

function Shell({
  user,
  token,
  route,
  store,
  EventSourceImpl,
}: {
  user: User;
  token: string | null;
  route: Route;
  store: SessionStore;
  EventSourceImpl?: AppProps['EventSourceImpl'];
}) {
  const qc = useQueryClient();
  const status = useLiveStream(token, store, EventSourceImpl);
  const markets = useQuery(marketsQuery());
  // Keeps the user's orders watched on every screen: fills and rejections become toasts.
  useQuery({ ...ordersQuery('all'), enabled: Boolean(token) });
  useOrderNotifications(markets.data);
  const isAdmin = user.roles.includes('admin');
  const [menuOpen, setMenuOpen] = useState(false);

  useEffect(() => {
    if (route.name === 'signin' || route.name === 'signup') navigate({ name: 'markets' });
  }, [route.name]);

  const signOut = () => {
    clearDrafts();
    store.signOut();
    qc.clear();
    resetMinPosition();
    setKillSwitch(null);
    navigate({ name: 'signin' });
  };

  let page;
  switch (route.name) {
    case 'markets':
    case 'signin':
    case 'signup':
      page = <MarketsPage />;
      break;
    case 'market':
      page = <MarketPage key={route.marketId} marketId={route.marketId} />;
      break;
    case 'orders':
      page = <OrdersPage />;
      break;
    case 'portfolio':
      page = <PortfolioPage user={user} />;
      break;
    case 'admin':
      page = isAdmin ? (
        <AdminPage />
      ) : (
        <section className="page">
          <h1>Admin</h1>
          <p className="error">This page is for administrators.</p>
        </section>
      );
      break;
    case 'notFound':
      page = (
        <section className="page">
          <h1>Not found</h1>
          <p>
            Nothing at {route.path}. <a href="#/markets">Go to markets</a>.
          </p>
        </section>
      );
      break;
  }

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <a className="brand" href="#/markets">
          Tradecore
        </a>
        <button
          type="button"
          className="menu-toggle"
          aria-expanded={menuOpen}
          aria-controls="main-nav"
          onClick={() => setMenuOpen((o) => !o)}
        >
          Menu
        </button>
        <nav id="main-nav" aria-label="Main" className={menuOpen ? 'open' : undefined} onClick={() => setMenuOpen(false)}>
          <NavLink to={{ name: 'markets' }} label="Markets" current={route.name === 'markets' || route.name === 'market'} />
          <NavLink to={{ name: 'orders' }} label="My orders" current={route.name === 'orders'} />
          <NavLink to={{ name: 'portfolio' }} label="Portfolio" current={route.name === 'portfolio'} />
          {isAdmin ? <NavLink to={{ name: 'admin' }} label="Admin" current={route.name === 'admin'} /> : null}
        </nav>
        <div className="topbar-right">
          <ConnectionIndicator status={status} />
          <span className="user" data-testid="current-user">
            {user.username} <span className="muted">#{user.userId}</span>
          </span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      {route.name !== 'market' ? <TradingBanners markets={markets.data} /> : null}
      <main id="main" tabIndex={-1}>
        {page}
      </main>
      <footer className="footer muted small">Tradecore · prices and amounts are exact decimals</footer>
    </div>
  );
}
