import { Component, h, type FunctionComponent } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, errorText } from './api';

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
  setData: (d: T | null) => void;
}

/** GET a path; reloads when the path changes. Keeps the old data while reloading. */
export function useApi<T>(path: string | null): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(path !== null);
  const [tick, setTick] = useState(0);
  const lastPath = useRef<string | null>(null);

  useEffect(() => {
    if (path === null) return;
    const ctl = new AbortController();
    if (lastPath.current !== path) setData(null);
    lastPath.current = path;
    setLoading(true);
    api
      .get<T>(path, ctl.signal)
      .then((d) => {
        setData(d);
        setError(null);
      })
      .catch((e) => {
        if ((e as Error).name !== 'AbortError') setError(errorText(e));
      })
      .finally(() => {
        if (!ctl.signal.aborted) setLoading(false);
      });
    return () => ctl.abort();
  }, [path, tick]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload, setData };
}

/** Coalesce bursts of calls (e.g. many SSE events) into one after `ms`. */
export function useDebounced(fn: () => void, ms: number): () => void {
  const ref = useRef(fn);
  ref.current = fn;
  const timer = useRef<number | null>(null);
  useEffect(() => () => {
    if (timer.current !== null) clearTimeout(timer.current);
  }, []);
  return useCallback(() => {
    if (timer.current !== null) return;
    timer.current = window.setTimeout(() => {
      timer.current = null;
      ref.current();
    }, ms);
  }, [ms]);
}

/** Re-render every `ms` (ages and "in 5 min" texts). */
export function useNow(ms = 30000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

export function useTitle(title: string) {
  useEffect(() => {
    document.title = title ? `${title} · Cairn` : 'Cairn';
  }, [title]);
}

/**
 * Rows of a long table to render: only those near the window's viewport (plus
 * `overscan`), with the rest stood in for by two spacer rows of the measured
 * average row height. Off when `count` <= `from`: small tables render whole.
 */
export function useWindowRows(count: number, body: { current: HTMLElement | null }, { from = 80, overscan = 25, initial = 45 } = {}) {
  const enabled = count > from;
  const [range, setRange] = useState<[number, number]>([0, Math.min(count, initial)]);
  const avg = useRef(56);
  const rangeRef = useRef(range);
  rangeRef.current = range;
  useEffect(() => {
    if (!enabled) return;
    let frame = 0;
    const update = () => {
      frame = 0;
      const el = body.current;
      if (!el) return;
      const rows = el.querySelectorAll<HTMLElement>(':scope > tr[data-vrow]');
      if (rows.length) {
        let h = 0;
        rows.forEach((r) => (h += r.offsetHeight));
        if (h > 0) avg.current = h / rows.length;
      }
      const top = el.getBoundingClientRect().top; // negative once scrolled past
      const start = Math.max(0, Math.floor(-top / avg.current) - overscan);
      const end = Math.min(count, Math.ceil((window.innerHeight - top) / avg.current) + overscan);
      const [a, b] = rangeRef.current;
      if (start !== a || end !== b) setRange([start, Math.max(end, Math.min(count, start + initial))]);
    };
    const on = () => {
      if (!frame) frame = requestAnimationFrame(update);
    };
    update();
    window.addEventListener('scroll', on, { passive: true });
    window.addEventListener('resize', on);
    return () => {
      window.removeEventListener('scroll', on);
      window.removeEventListener('resize', on);
      if (frame) cancelAnimationFrame(frame);
    };
  }, [enabled, count]);
  if (!enabled) return { from: 0, to: count, before: 0, after: 0, enabled };
  const [a, b] = [Math.min(range[0], count), Math.min(range[1], count)];
  return { from: a, to: b, before: a * avg.current, after: (count - b) * avg.current, enabled };
}

/** Like React.memo: re-render only when a prop changed (shallow). Keeps preact/compat out of the bundle. */
export function memo<P extends object>(C: FunctionComponent<P>): FunctionComponent<P> {
  class Memo extends Component<P> {
    shouldComponentUpdate(next: P) {
      const a = this.props as Record<string, unknown>;
      const b = next as Record<string, unknown>;
      for (const k in a) if (k !== 'children' && a[k] !== b[k]) return true;
      for (const k in b) if (!(k in a)) return true;
      return false;
    }
    render(p: P) {
      return h(C, p);
    }
  }
  (Memo as unknown as { displayName: string }).displayName = `memo(${C.displayName || C.name})`;
  return Memo as unknown as FunctionComponent<P>;
}
