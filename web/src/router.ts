// A hash router (#/services/app-db?x=1): works behind any static file server,
// with no server-side fallback route and nothing but the one index.html.

import { useEffect, useState } from 'preact/hooks';

export interface Route {
  path: string;
  segments: string[];
  query: URLSearchParams;
}

function parse(): Route {
  const h = location.hash.replace(/^#/, '') || '/';
  const [p, q = ''] = h.split('?', 2);
  const path = p.startsWith('/') ? p : '/' + p;
  return {
    path,
    segments: path.split('/').filter(Boolean).map((s) => decodeURIComponent(s)),
    query: new URLSearchParams(q),
  };
}

export function href(path: string, query?: Record<string, string | null | undefined>): string {
  let q = '';
  if (query) {
    const sp = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== '') sp.set(k, v);
    const s = sp.toString();
    if (s) q = '?' + s;
  }
  return '#' + path + q;
}

export function navigate(path: string, query?: Record<string, string | null | undefined>, replace = false) {
  const h = href(path, query);
  if (replace) history.replaceState(null, '', h);
  else history.pushState(null, '', h);
  window.dispatchEvent(new HashChangeEvent('hashchange'));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(parse);
  useEffect(() => {
    const on = () => setRoute(parse());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

export const seg = (s: string) => encodeURIComponent(s);
