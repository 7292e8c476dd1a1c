// One EventSource on /api/v1/events for the whole app (server-sent events:
// job, alert, service, config). Screens subscribe by event name.

import { useEffect, useRef } from 'preact/hooks';
import { BASE } from './api';

type Handler = (data: any) => void;
const handlers = new Map<string, Set<Handler>>();
const connHandlers = new Set<(up: boolean) => void>();
let es: EventSource | null = null;
let connected = false;

const NAMES = ['job', 'alert', 'service', 'config'];

function dispatch(name: string, raw: string) {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return;
  }
  handlers.get(name)?.forEach((h) => {
    try {
      h(data);
    } catch (e) {
      console.error(e);
    }
  });
}

function setConnected(up: boolean) {
  if (up === connected) return;
  connected = up;
  connHandlers.forEach((h) => h(up));
}

export function startEvents() {
  if (es) return;
  es = new EventSource(BASE + '/events', { withCredentials: true });
  es.onopen = () => setConnected(true);
  // EventSource reconnects by itself after an error (every few seconds).
  es.onerror = () => setConnected(false);
  for (const n of NAMES) es.addEventListener(n, (ev) => dispatch(n, (ev as MessageEvent).data));
}

export function stopEvents() {
  es?.close();
  es = null;
  setConnected(false);
}

export function isLive() {
  return connected;
}

export function subscribe(name: string, h: Handler): () => void {
  let set = handlers.get(name);
  if (!set) handlers.set(name, (set = new Set()));
  set.add(h);
  return () => set!.delete(h);
}

export function onConnection(h: (up: boolean) => void): () => void {
  connHandlers.add(h);
  return () => connHandlers.delete(h);
}

/** Subscribe for the lifetime of a component; the handler may change between renders. */
export function useEvent(name: string, h: Handler) {
  const ref = useRef(h);
  ref.current = h;
  useEffect(() => subscribe(name, (d) => ref.current(d)), [name]);
}
