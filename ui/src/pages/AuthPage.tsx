import { useId, useState, type FormEvent } from 'react';
import { login, register } from '../api/mutations.ts';
import { errorMessage, isApiError } from '../api/client.ts';
import type { LoginResponse } from '../api/types.ts';

const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;

export function AuthPage({
  mode,
  onSignedIn,
  expiredUsername,
  onSwitchMode,
}: {
  mode: 'signin' | 'signup';
  onSignedIn: (res: LoginResponse) => void;
  /** Set when the session expired: the screen explains and pre-fills the name. */
  expiredUsername?: string | null;
  onSwitchMode?: (mode: 'signin' | 'signup') => void;
}) {
  const [username, setUsername] = useState(expiredUsername ?? '');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const uid = useId();
  const errorId = `${uid}-error`;

  const validate = (): string | null => {
    if (mode === 'signup') {
      if (!USERNAME.test(username)) return 'Username: 3 to 32 letters, digits, or . _ -';
      if (password.length < 8 || password.length > 128) return 'Password: 8 to 128 characters.';
    } else if (!username || !password) return 'Enter your username and password.';
    return null;
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const invalid = validate();
    if (invalid) return setError(invalid);
    setBusy(true);
    setError(null);
    try {
      if (mode === 'signup') await register(username, password);
      onSignedIn(await login(username, password));
    } catch (err) {
      if (mode === 'signin' && isApiError(err, 401)) setError('Wrong username or password.');
      else if (mode === 'signup' && isApiError(err, 409)) setError('That username is taken.');
      else setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const title = mode === 'signin' ? (expiredUsername ? 'Session expired' : 'Sign in') : 'Create your account';
  return (
    <main className="auth" aria-labelledby={`${uid}-title`}>
      <form className="card auth-card" onSubmit={(e) => void submit(e)} noValidate aria-describedby={error ? errorId : undefined}>
        <div className="brand brand-large">Tradecore</div>
        <h1 id={`${uid}-title`}>{title}</h1>
        {expiredUsername ? (
          <p className="muted" role="status">
            Your session has ended. Sign in again to continue where you left off; what you were typing is kept.
          </p>
        ) : null}
        <label htmlFor={`${uid}-user`}>Username</label>
        <input
          id={`${uid}-user`}
          name="username"
          autoComplete="username"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          required
          aria-invalid={error ? true : undefined}
        />
        <label htmlFor={`${uid}-pass`}>Password</label>
        <input
          id={`${uid}-pass`}
          name="password"
          type="password"
          autoComplete={mode === 'signup' ? 'new-password' : 'current-password'}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
          aria-invalid={error ? true : undefined}
        />
        {mode === 'signup' ? <p className="hint">3–32 characters for the name (letters, digits, . _ -); at least 8 for the password.</p> : null}
        {error ? (
          <p className="error" id={errorId} role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Please wait…' : mode === 'signin' ? 'Sign in' : 'Sign up'}
        </button>
        {onSwitchMode ? (
          <p className="muted">
            {mode === 'signin' ? 'New here? ' : 'Already have an account? '}
            <a
              href={mode === 'signin' ? '#/signup' : '#/signin'}
              onClick={(e) => {
                e.preventDefault();
                setError(null);
                onSwitchMode(mode === 'signin' ? 'signup' : 'signin');
              }}
            >
              {mode === 'signin' ? 'Create an account' : 'Sign in'}
            </a>
          </p>
        ) : null}
      </form>
    </main>
  );
}
