import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { bytes, duration } from '../format';

export type Unit = 'bytes' | 'seconds';

export interface SeriesSpec {
  label: string;
  color: string;
  /** 'line' | 'points' | 'bars' | 'step' */
  style?: 'line' | 'points' | 'bars' | 'step';
  fill?: boolean;
  dash?: number[];
}

/**
 * Keep about `max` buckets: each bucket keeps its smallest and its largest
 * value (in time order), so spikes and the sawtooth's drops stay visible.
 */
export function decimate(xs: number[], ys: (number | null)[][], max: number): [number[], (number | null)[][]] {
  if (xs.length <= max * 2) return [xs, ys];
  const step = xs.length / max;
  const ox: number[] = [];
  const oy: (number | null)[][] = ys.map(() => []);
  const main = ys[0];
  for (let b = 0; b < max; b++) {
    const lo = Math.floor(b * step);
    const hi = Math.min(xs.length, Math.floor((b + 1) * step));
    if (hi <= lo) continue;
    // the indices of the first series' min and max decide which samples stay
    let iMin = lo;
    let iMax = lo;
    for (let k = lo; k < hi; k++) {
      const v = main[k];
      if (v === null || v === undefined) continue;
      const vm = main[iMin];
      const vM = main[iMax];
      if (vm === null || vm === undefined || v < vm) iMin = k;
      if (vM === null || vM === undefined || v > vM) iMax = k;
    }
    const keep = iMin === iMax ? [iMin] : iMin < iMax ? [iMin, iMax] : [iMax, iMin];
    for (const k of keep) {
      ox.push(xs[k]);
      ys.forEach((s, i) => oy[i].push(s[k] ?? null));
    }
  }
  return [ox, oy];
}

/** Compact axis labels. */
function axisDur(v: number): string {
  const a = Math.abs(v);
  if (a < 120) return `${+v.toFixed(1)} s`;
  if (a < 7200) return `${+(v / 60).toFixed(1)} min`;
  if (a < 172800) return `${+(v / 3600).toFixed(1)} h`;
  return `${+(v / 86400).toFixed(1)} d`;
}

const dayFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const monthFmt = new Intl.DateTimeFormat(undefined, { month: 'short', year: 'numeric' });
const hourFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const secFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

function timeTicks(_u: uPlot, splits: number[], _ax: number, _space: number, incr: number): string[] {
  let lastDay = '';
  return splits.map((s) => {
    const d = new Date(s * 1000);
    const day = dayFmt.format(d);
    if (incr >= 2592000) return monthFmt.format(d);  // months or years apart: the day alone repeats
    if (incr >= 86400) return day;
    // ticks less than a minute apart (a few backups within minutes) need the seconds, or they all read the same
    const t = (incr < 60 ? secFmt : hourFmt).format(d);
    if (day !== lastDay) {
      lastDay = day;
      return `${t}\n${day}`;
    }
    return t;
  });
}

// Time ticks in whole seconds at least (uPlot's defaults go down to milliseconds,
// which labelled two backups a few seconds apart 05:45:03, 05:45:03, 05:45:04...).
const TIME_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 1209600, 2592000, 7776000, 15552000, 31536000];

const BYTE_INCRS: number[] = [];
for (let k = 0; k < 6; k++) for (const m of [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]) BYTE_INCRS.push(m * 1024 ** k);
const SEC_INCRS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 2592000];

function fmt(unit: Unit, v: number): string {
  return unit === 'bytes' ? bytes(v) : axisDur(v);
}

/**
 * A uPlot time-series chart. The canvas is described for screen readers by
 * `summary` (role="img" + aria-label on the figure); uPlot's legend shows the
 * values under the cursor.
 */
export function Chart({
  title,
  summary,
  x,
  ys,
  series,
  unit,
  height = 200,
  testid,
  yMin,
}: {
  title: string;
  summary: string;
  x: number[];
  ys: (number | null)[][];
  series: SeriesSpec[];
  unit: Unit;
  height?: number;
  testid?: string;
  yMin?: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = Math.max(260, el.clientWidth || 600);
    const [dx, dy] = decimate(x, ys, Math.max(300, Math.floor(width)));
    const single = dx.length > 0 && dx.every((v) => v === dx[0]) ? dx[0] : null;
    const dark = window.matchMedia?.('(prefers-color-scheme: dark)').matches;
    const axisStroke = dark ? '#c9d1d9' : '#3b4350';
    const grid = { stroke: dark ? '#30363d' : '#e3e6ea', width: 1 };
    const opts: uPlot.Options = {
      width,
      height,
      cursor: { drag: { x: true, y: false } },
      scales: {
        // One point (a service's first backup) is a range of zero width, which
        // uPlot pads by years: the ticks fell on 1 January of successive years
        // and all read "1 Jan". A fixed hour on either side keeps the point's day.
        x: single === null ? { time: true } : { time: true, auto: false, range: [single - 3600, single + 3600] },
        y: { range: (_u, min, max) => [Math.min(yMin ?? 0, min), max > 0 ? max * 1.08 : 1] } },
      axes: [
        { stroke: axisStroke, grid, ticks: grid, values: timeTicks, space: 60, incrs: TIME_INCRS },
        { stroke: axisStroke, grid, ticks: grid, size: 70, incrs: unit === 'bytes' ? BYTE_INCRS : SEC_INCRS, values: (_u, vals) => vals.map((v) => fmt(unit, v)) },
      ],
      series: [
        { label: 'Time', value: (_u, v) => (v == null ? '—' : new Date(v * 1000).toLocaleString()) },
        ...series.map((s) => {
          const o: uPlot.Series = {
            label: s.label,
            stroke: s.color,
            width: 1.5,
            value: (_u: uPlot, v: number | null) => (v == null ? '—' : unit === 'bytes' ? bytes(v) : duration(v)),
            spanGaps: false,
          };
          if (s.dash) o.dash = s.dash;
          if (s.fill) {
            o.fill = s.color + '2a';
            o.width = 1;
          }
          if (s.style === 'points') {
            o.paths = () => null;
            o.points = { show: true, size: 5, fill: s.color };
          } else if (s.style === 'bars') {
            o.paths = uPlot.paths.bars!({ size: [0.8, 6] });
            o.fill = s.color + 'aa';
            o.points = { show: false };
          } else if (s.style === 'step') {
            o.paths = uPlot.paths.stepped!({ align: -1 });
            o.points = { show: false };
          } else {
            o.points = { show: dx.length < 60 };
          }
          return o;
        }),
      ],
    };
    plot.current?.destroy();
    plot.current = new uPlot(opts, [dx, ...dy] as uPlot.AlignedData, el);
    let lastW = width;
    const ro = new ResizeObserver(() => {
      const w = Math.max(260, el.clientWidth);
      if (Math.abs(w - lastW) > 4) {
        lastW = w;
        plot.current?.setSize({ width: w, height });
      }
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [x, ys, unit, height]);

  return (
    <figure class="chart" data-testid={testid}>
      <figcaption>{title}</figcaption>
      {x.length === 0 ? (
        <p class="chart-empty muted">{summary}</p>
      ) : (
        <div class="chart-box" ref={box} role="img" aria-label={`${title}: ${summary}`} />
      )}
    </figure>
  );
}
