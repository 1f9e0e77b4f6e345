/** A tiny hash router: `#/markets/3`. Works wherever ui/dist is served, deep links included. */
import { useSyncExternalStore } from 'react';

export type Route =
  | { name: 'markets' }
  | { name: 'market'; marketId: number }
  | { name: 'orders' }
  | { name: 'portfolio' }
  | { name: 'admin' }
  | { name: 'signin' }
  | { name: 'signup' }
  | { name: 'notFound'; path: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '') || '/markets';
  const parts = path.split('/').filter(Boolean);
  const [first, second] = parts;
  switch (first) {
    case undefined:
    case 'markets':
      if (second === undefined) return { name: 'markets' };
      return /^\d+$/.test(second) ? { name: 'market', marketId: Number(second) } : { name: 'notFound', path };
    case 'orders':
      return { name: 'orders' };
    case 'portfolio':
      return { name: 'portfolio' };
    case 'admin':
      return { name: 'admin' };
    case 'signin':
      return { name: 'signin' };
    case 'signup':
      return { name: 'signup' };
    default:
      return { name: 'notFound', path };
  }
}

export function href(route: Route): string {
  switch (route.name) {
    case 'market':
      return `#/markets/${route.marketId}`;
    case 'notFound':
      return `#${route.path}`;
    default:
      return `#/${route.name}`;
  }
}

function subscribe(cb: () => void): () => void {
  window.addEventListener('hashchange', cb);
  return () => window.removeEventListener('hashchange', cb);
}

export function useRoute(): Route {
  const hash = useSyncExternalStore(subscribe, () => window.location.hash, () => '');
  return parseRoute(hash);
}

export function navigate(route: Route): void {
  window.location.hash = href(route).slice(1);
}
