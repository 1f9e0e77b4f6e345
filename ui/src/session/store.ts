/**
 * The signed-in session, outside React so the API client can read the token. Kept in
 * sessionStorage (per tab) so a reload keeps you signed in until the token expires.
 */
import type { LoginResponse, User } from '../api/types.ts';

export interface SessionState {
  token: string | null;
  expiresAt: string | null;
  user: User | null;
  /** The session ended (401 or expiry) while a user was signed in: the UI asks to sign in again, keeping its state. */
  expired: boolean;
}

const KEY = 'tradecore.session';
const EMPTY: SessionState = { token: null, expiresAt: null, user: null, expired: false };

function storage(): Storage | null {
  try {
    return typeof sessionStorage === 'undefined' ? null : sessionStorage;
  } catch {
    return null;
  }
}

function load(): SessionState {
  const raw = storage()?.getItem(KEY);
  if (!raw) return EMPTY;
  try {
    const s = JSON.parse(raw) as SessionState;
    if (!s.user) return EMPTY;
    if (!s.token || !s.expiresAt || Date.parse(s.expiresAt) <= Date.now()) return { ...s, token: null, expired: true };
    return { ...s, expired: false };
  } catch {
    return EMPTY;
  }
}

type Listener = () => void;

export class SessionStore {
  private state: SessionState;
  private readonly listeners = new Set<Listener>();

  constructor(initial?: SessionState) {
    this.state = initial ?? load();
  }

  get = (): SessionState => this.state;

  subscribe = (l: Listener): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };

  private set(next: SessionState): void {
    this.state = next;
    const st = storage();
    if (next.user) st?.setItem(KEY, JSON.stringify(next));
    else st?.removeItem(KEY);
    for (const l of this.listeners) l();
  }

  token = (): string | null => this.state.token;

  isExpired = (): boolean => {
    const { token, expiresAt } = this.state;
    return !token || (expiresAt !== null && Date.parse(expiresAt) <= Date.now());
  };

  signedIn(res: LoginResponse): void {
    this.set({ token: res.token, expiresAt: res.expiresAt, user: res.user, expired: false });
  }

  /** The token stopped working: keep the user (and the screen), drop the token. */
  expire = (): void => {
    if (!this.state.user || this.state.expired) return;
    this.set({ ...this.state, token: null, expired: true });
  };

  signOut(): void {
    this.set(EMPTY);
  }
}

/** Forget unsent order-ticket drafts (on sign-out or when another user signs in). */
export function clearDrafts(): void {
  const st = storage();
  if (!st) return;
  for (let i = st.length - 1; i >= 0; i--) {
    const key = st.key(i);
    if (key?.startsWith('tradecore.ticket.')) st.removeItem(key);
  }
}

export const sessionStore = new SessionStore();
