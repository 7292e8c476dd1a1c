import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, errorText, signIn } from '../api';
import { useTitle } from '../hooks';
import type { Session } from '../types';

export function SignIn({ onSignedIn, notice }: { onSignedIn: (s: Session) => void; notice: string | null }) {
  useTitle('Sign in');
  const [mode, setMode] = useState<'password' | 'token'>('password');
  const [secret, setSecret] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => input.current?.focus(), [mode]);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!secret) {
      setError(mode === 'password' ? 'Enter the admin password.' : 'Enter an API token.');
      input.current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const s = await signIn(mode === 'password' ? { password: secret } : { token: secret });
      onSignedIn(s);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401)
        setError(mode === 'password' ? 'Wrong password. Check it and try again.' : 'That token is not valid.');
      else if (err instanceof ApiError && err.status === 429)
        setError(`Too many failed sign-ins from this address. Try again${err.retryAfter ? ` in ${Math.ceil(err.retryAfter / 60)} min` : ' later'}.`);
      else setError(errorText(err));
      setSecret('');
      input.current?.focus();
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="signin" id="main">
      <form class="signin-card" onSubmit={submit} aria-labelledby="signin-title" noValidate>
        <div class="signin-brand">
          <img src="/favicon.svg" alt="" width={40} height={40} />
          <h1 id="signin-title">Sign in to Cairn</h1>
        </div>
        {notice && (
          <p class="notice" role="status" data-testid="signin-notice">
            {notice}
          </p>
        )}
        <fieldset class="seg">
          <legend class="sr-only">Sign in with</legend>
          <label class={mode === 'password' ? 'seg-on' : ''}>
            <input type="radio" name="mode" value="password" checked={mode === 'password'} onChange={() => setMode('password')} /> Admin password
          </label>
          <label class={mode === 'token' ? 'seg-on' : ''}>
            <input type="radio" name="mode" value="token" checked={mode === 'token'} onChange={() => setMode('token')} /> API token
          </label>
        </fieldset>
        <div class="field">
          <label for="secret">{mode === 'password' ? 'Password' : 'Token'}</label>
          <input
            id="secret"
            ref={input}
            type="password"
            autoComplete={mode === 'password' ? 'current-password' : 'off'}
            value={secret}
            onInput={(e) => setSecret((e.target as HTMLInputElement).value)}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? 'signin-error' : undefined}
          />
        </div>
        {error && (
          <p class="form-error" id="signin-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="btn btn-primary btn-block" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p class="hint">
          Tokens are made with <code>cairn token create NAME --role read|operate|admin</code>. An idle session ends after 12 hours.
        </p>
      </form>
    </main>
  );
}
