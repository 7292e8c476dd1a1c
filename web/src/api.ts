// The REST API client: same-origin fetch with the session cookie, the CSRF
// token on POST/DELETE, and errors turned into ApiError with the server's
// one-line message ({"error": "..."}).

import type { Session } from './types';

export const BASE = '/api/v1';

export class ApiError extends Error {
  status: number;
  retryAfter: number | null;
  constructor(status: number, message: string, retryAfter: number | null = null) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

let csrf: string | null = null;
type Listener = (status: number) => void;
const authListeners = new Set<Listener>();

export function setCsrf(token: string | null) {
  csrf = token;
}

/** Called with 401 (session gone) or 503 (configuration not loaded). */
export function onAuthProblem(fn: Listener): () => void {
  authListeners.add(fn);
  return () => authListeners.delete(fn);
}

const FALLBACK: Record<number, string> = {
  400: 'The request was malformed.',
  401: 'You are not signed in, or the session expired.',
  403: 'Your role may not do this.',
  404: 'Not found.',
  409: 'Conflict with a job that is already queued or running.',
  429: 'Too many failed sign-ins.',
  500: 'The daemon failed.',
  503: 'The configuration is not loaded.',
};

async function request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if ((method === 'POST' || method === 'DELETE') && csrf) headers['X-CSRF-Token'] = csrf;
  let res: Response;
  try {
    res = await fetch(BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      signal,
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'Cannot reach the Cairn daemon: ' + (e as Error).message);
  }
  if (res.status === 204) return undefined as T;
  let data: unknown = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const msg =
      data && typeof data === 'object' && typeof (data as { error?: unknown }).error === 'string'
        ? (data as { error: string }).error
        : FALLBACK[res.status] || `HTTP ${res.status}`;
    const ra = res.headers.get('Retry-After');
    const err = new ApiError(res.status, msg, ra ? Number(ra) : null);
    // A 401 on the sign-in call itself is a wrong password, not an expired session.
    if ((res.status === 401 && path !== '/session') || res.status === 503) authListeners.forEach((l) => l(res.status));
    throw err;
  }
  return data as T;
}

export const api = {
  get: <T>(path: string, signal?: AbortSignal) => request<T>('GET', path, undefined, signal),
  post: <T>(path: string, body: unknown = {}) => request<T>('POST', path, body),
  del: <T>(path: string) => request<T>('DELETE', path),
};

export async function signIn(cred: { password: string } | { token: string }): Promise<Session> {
  const s = await api.post<Session>('/session', cred);
  setCsrf(s.csrf_token);
  return s;
}

export async function currentSession(): Promise<Session | null> {
  try {
    const s = await api.get<Session>('/session');
    setCsrf(s.csrf_token);
    return s;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

export async function signOut(): Promise<void> {
  try {
    await api.del<void>('/session');
  } finally {
    setCsrf(null);
  }
}

export const enc = encodeURIComponent;

export function qs(params: Record<string, string | number | null | undefined>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === '') continue;
    parts.push(enc(k) + '=' + enc(String(v)));
  }
  return parts.length ? '?' + parts.join('&') : '';
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
