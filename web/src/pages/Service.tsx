import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, enc, errorText } from '../api';
import { useApp } from '../app';
import { useEvent } from '../events';
import { useApi, useDebounced, useTitle } from '../hooks';
import { bytes, duration, kindLabel, localTime, plural, scheduleText, shortId, utcTime } from '../format';
import { href, seg } from '../router';
import type { History, Job, Point, PointsPage, ServiceDetail } from '../types';
import { Chart } from '../components/LazyChart';
import { BackupDialog } from '../components/BackupDialog';
import { RestoreDialog } from '../components/RestoreDialog';
import { JobPanel } from '../components/JobView';
import { PitrWindow } from '../components/PitrWindow';
import { Check, Empty, ErrorBox, HealthBadge, Loading, PageTitle, Status, Time } from '../components/ui';

export function ServicePage({ name }: { name: string }) {
  useTitle(name);
  const app = useApp();
  const svc = useApi<ServiceDetail>(`/services/${enc(name)}`);
  const [dialog, setDialog] = useState<null | 'backup' | { restore: Point | null; atTime?: boolean }>(null);
  const [jobs, setJobs] = useState<number[]>([]);
  const [histTick, setHistTick] = useState(0);
  const [drillMsg, setDrillMsg] = useState<string | null>(null);

  const reload = useDebounced(svc.reload, 600);
  useEvent('service', (d: { name: string }) => {
    if (d.name === name) {
      reload();
      setHistTick((t) => t + 1);
    }
  });
  useEvent('job', (j: Job) => {
    // A job of this service started elsewhere (schedule, another tab) is shown too.
    if (j.service === name && (j.status === 'running' || j.status === 'queued')) setJobs((l) => (l.includes(j.id) ? l : [j.id, ...l].slice(0, 3)));
  });
  useEffect(() => {
    const r = svc.data?.running_job;
    if (r) setJobs((l) => (l.includes(r.id) ? l : [r.id, ...l].slice(0, 3)));
  }, [svc.data?.running_job?.id]);

  const s = svc.data;
  if (svc.error && !s)
    return (
      <div>
        <PageTitle>{name}</PageTitle>
        <ErrorBox error={svc.error} />
        <p>
          <a href="#/">Back to the overview</a>
        </p>
      </div>
    );
  if (!s) return <Loading what={`Loading ${name}`} />;

  const runDrill = async () => {
    setDrillMsg(null);
    try {
      const r = await api.post<{ job_id: number }>(`/services/${enc(name)}/verify`, { point: 'latest' });
      setJobs((l) => [r.job_id, ...l.filter((x) => x !== r.job_id)].slice(0, 3));
    } catch (e) {
      setDrillMsg(errorText(e));
    }
  };

  return (
    <div>
      <nav aria-label="Breadcrumb" class="crumbs">
        <a href="#/">Overview</a> <span aria-hidden="true">›</span> <span>{name}</span>
      </nav>
      <PageTitle
        sub={
          <div class="title-meta">
            <span class="type-tag">{s.type}</span> <HealthBadge state={s.health.state} />
          </div>
        }
      >
        {s.name}
      </PageTitle>
      <div class="actions" role="group" aria-label="Actions">
        <button type="button" class="btn btn-primary" onClick={() => setDialog('backup')} disabled={!app.can('operate')} title={app.can('operate') ? undefined : 'Needs the operate role'}>
          Back up now
        </button>
        <button type="button" class="btn" onClick={() => setDialog({ restore: null })} disabled={!app.can('operate') || !s.last_backup}>
          Restore…
        </button>
        <button type="button" class="btn" onClick={runDrill} disabled={!app.can('operate') || !s.last_backup}>
          Run restore drill
        </button>
      </div>
      {!app.can('operate') && (
        <p class="hint">
          Signed in with role {app.session.role}: you can look, not back up or restore.
        </p>
      )}
      <ErrorBox error={drillMsg} />
      {jobs.map((id) => (
        <JobPanel key={id} id={id} onDismiss={() => setJobs((l) => l.filter((x) => x !== id))} />
      ))}

      <div class="cols">
        <section aria-labelledby="health-h" class="card">
          <h2 id="health-h">Health</h2>
          <ul class="plain checks-list">
            <li>
              <Check label="Recent" ok={s.health.recent.ok} detail={s.health.recent.detail} pending={s.health.state === 'unknown'} />
              <span class="small muted"> {s.health.recent.detail}</span>
            </li>
            <li>
              <Check label="Complete" ok={s.health.complete.ok} detail={s.health.complete.detail} pending={s.health.state === 'unknown'} />
              <span class="small muted"> {s.health.complete.detail}</span>
            </li>
            <li>
              <Check label="Verified" ok={s.health.verified.ok} detail={s.health.verified.detail} soft pending={s.health.state === 'unknown'} />
              <span class="small muted"> {s.health.verified.detail}</span>
            </li>
          </ul>
          {s.last_job?.status === 'failed' && s.last_job.error && (
            <p class="error-inline">
              Last job failed: {s.last_job.error} (<a href={href(`/jobs/${s.last_job.id}`)}>log</a>)
            </p>
          )}
          {s.alerts_open > 0 && (
            <p>
              <a href="#/alerts">{plural(s.alerts_open, 'open alert')}</a>
            </p>
          )}
        </section>
        <section aria-labelledby="details-h" class="card">
          <h2 id="details-h">Details</h2>
          <dl class="dl">
            <dt>Schedule</dt>
            <dd>
              {scheduleText(s.schedule)}
              {s.schedule?.paused && <span class="badge badge-warn">paused</span>}
            </dd>
            <dt>Next run</dt>
            <dd>{s.schedule?.paused ? 'paused' : <Time iso={s.next_run} />}</dd>
            <dt>Freshness target</dt>
            <dd>{s.freshness_s !== null ? `a good point at most ${duration(s.freshness_s)} old` : 'none'}</dd>
            <dt>RPO achieved</dt>
            <dd data-testid="rpo">
              {s.rpo_achieved_s !== null ? duration(s.rpo_achieved_s) : '—'}
              <span class="small muted"> (age of the newest good point)</span>
            </dd>
            <dt>RTO measured</dt>
            <dd data-testid="rto">
              {s.rto_measured_s !== null ? duration(s.rto_measured_s) : 'no passed drill yet'}
              <span class="small muted"> (newest passed restore drill)</span>
            </dd>
            <dt>Restore drills</dt>
            <dd>{s.verify ? `every ${s.verify.every}` : 'not scheduled'}</dd>
            <dt>Targets</dt>
            <dd>{s.targets.join(', ')}</dd>
            {s.volumes.length > 0 && (
              <>
                <dt>Volumes</dt>
                <dd>
                  {s.volumes.map((v) => (
                    <code key={v} class="block-code">
                      {v}
                    </code>
                  ))}
                </dd>
              </>
            )}
          </dl>
        </section>
        <section aria-labelledby="ret-h" class="card">
          <h2 id="ret-h">Retention per target</h2>
          <table class="table compact">
            <thead>
              <tr>
                <th scope="col">Target</th>
                <th scope="col">Keeps</th>
              </tr>
            </thead>
            <tbody>
              {s.targets.map((t) => {
                const r = s.retention[t] ?? {};
                const txt = Object.entries(r)
                  .filter(([, v]) => v !== null && v !== undefined)
                  .map(([k, v]) => `${k.replace(/^keep_/, '')} ${Array.isArray(v) ? v.join(', ') : v}`)
                  .join(', ');
                return (
                  <tr key={t}>
                    <th scope="row">{t}</th>
                    <td>{txt || 'everything (no retention set)'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </section>
        {s.pitr && <PitrWindow pitr={s.pitr} canRestore={app.can('operate')} onRestore={() => setDialog({ restore: null, atTime: true })} />}
      </div>

      <Charts name={name} freshness={s.freshness_s} tick={histTick} />
      <HistoryTable service={s} tick={histTick} onRestore={(p) => setDialog({ restore: p })} />

      {dialog === 'backup' && <BackupDialog service={s} onClose={() => setDialog(null)} onStarted={(id) => setJobs((l) => [id, ...l.filter((x) => x !== id)].slice(0, 3))} />}
      {dialog && typeof dialog === 'object' && <RestoreDialog service={s} point={dialog.restore} atTime={dialog.atTime} onClose={() => setDialog(null)} />}
    </div>
  );
}

function Charts({ name, freshness, tick }: { name: string; freshness: number | null; tick: number }) {
  const [days, setDays] = useState(30);
  const hist = useApi<History>(`/services/${enc(name)}/history?days=${days}`);
  useEffect(() => {
    if (tick) hist.reload();
  }, [tick]);
  const h = hist.data;

  const charts = useMemo(() => {
    if (!h) return null;
    const ts = (iso: string) => Date.parse(iso) / 1000;
    const pts = h.points.map((p) => ({ ...p, t: ts(p.time) })).sort((a, b) => a.t - b.t);
    const px = pts.map((p) => p.t);
    const size = pts.map((p) => p.size);
    const added = pts.map((p) => p.added);

    // Duration: successful backups from the points, failed backup jobs beside them.
    const failed = h.jobs.filter((j) => j.kind === 'backup' && j.status === 'failed').map((j) => ({ t: ts(j.time), d: j.duration_s ?? 0 }));
    const dur: { t: number; ok: number | null; bad: number | null }[] = [
      ...pts.map((p) => ({ t: p.t, ok: p.duration_s, bad: null })),
      ...failed.map((f) => ({ t: f.t, ok: null, bad: f.d })),
    ].sort((a, b) => a.t - b.t);

    // RPO achieved over time: the age of the newest good point, a sawtooth that
    // drops to zero at each good point and grows until the next one.
    const good = pts.filter((p) => p.status === 'complete').map((p) => p.t);
    const now = Date.now() / 1000;
    const rx: number[] = [];
    const ry: number[] = [];
    const BUCKETS = 150;
    const envelope = good.length > BUCKETS;
    if (envelope) {
      // Too many teeth to see: draw the worst age within each of BUCKETS spans
      // (a gap in the backups still stands out as a peak).
      const bw = (now - good[0]) / BUCKETS;
      let gi = 0;
      for (let b = 1; b <= BUCKETS; b++) {
        const e = good[0] + b * bw;
        let m = 0;
        while (gi + 1 < good.length && good[gi + 1] <= e) {
          gi++;
          m = Math.max(m, good[gi] - good[gi - 1]);
        }
        rx.push(e);
        ry.push(Math.max(m, e - good[gi]));
      }
    } else {
      for (let i = 0; i < good.length; i++) {
        if (i > 0) {
          rx.push(good[i] - 1);
          ry.push(good[i] - 1 - good[i - 1]);
        }
        rx.push(good[i]);
        ry.push(0);
      }
      if (good.length) {
        rx.push(now);
        ry.push(now - good[good.length - 1]);
      }
    }
    const fr = freshness !== null ? rx.map(() => freshness) : null;
    const worst = ry.length ? Math.max(...ry) : null;

    const drills = h.drills.map((d) => ({ t: ts(d.time), d: d.duration_s, ok: d.outcome === 'passed' })).sort((a, b) => a.t - b.t);
    return { px, size, added, dur, rx, ry, fr, worst, envelope, drills, count: pts.length, failedCount: failed.length };
  }, [h, freshness]);

  return (
    <section aria-labelledby="charts-h" class="charts">
      <div class="section-head">
        <h2 id="charts-h">Over time</h2>
        <div class="inline-field">
          <label for="chart-days">Range</label>
          <select id="chart-days" value={days} onChange={(e) => setDays(Number((e.target as HTMLSelectElement).value))}>
            <option value={7}>7 days</option>
            <option value={30}>30 days</option>
            <option value={90}>90 days</option>
            <option value={365}>1 year</option>
          </select>
        </div>
      </div>
      <ErrorBox error={hist.error} />
      {!charts && !hist.error && <Loading what="Loading charts" />}
      {charts && (
        <div class="chart-grid">
          <Chart
            title="Size per backup"
            summary={`${charts.count} backups in ${days} days; newest ${bytes(charts.size[charts.size.length - 1])}`}
            x={charts.px}
            ys={[charts.size]}
            series={[{ label: 'Size', color: '#2f6fb3', fill: true }]}
            unit="bytes"
            testid="chart-size"
          />
          <Chart
            title="Added per backup"
            summary={`bytes each backup added to its target; total ${bytes(charts.added.reduce((a, b) => a + b, 0))}`}
            x={charts.px}
            ys={[charts.added]}
            series={[{ label: 'Added', color: '#7a4fb0', style: 'bars' }]}
            unit="bytes"
            testid="chart-added"
          />
          <Chart
            title="Backup duration"
            summary={`${charts.count} successful and ${charts.failedCount} failed backups`}
            x={charts.dur.map((d) => d.t)}
            ys={[charts.dur.map((d) => d.ok), charts.dur.map((d) => d.bad)]}
            series={[
              { label: 'Succeeded', color: '#2e7d4f', style: 'points' },
              { label: 'Failed', color: '#c62828', style: 'points' },
            ]}
            unit="seconds"
            testid="chart-duration"
          />
          <Chart
            title="RPO achieved over time"
            summary={
              charts.worst !== null
                ? `worst ${duration(charts.worst)} in ${days} days${freshness !== null ? `, freshness target ${duration(freshness)}` : ''}`
                : 'no good point in this range'
            }
            x={charts.rx}
            ys={charts.fr ? [charts.ry, charts.fr] : [charts.ry]}
            series={[
              { label: charts.envelope ? 'Worst age of the newest good point' : 'Age of the newest good point', color: '#b35c00', fill: true, style: charts.envelope ? 'step' : 'line' },
              ...(charts.fr ? [{ label: 'Freshness target', color: '#c62828', dash: [6, 4] }] : []),
            ]}
            unit="seconds"
            testid="chart-rpo"
          />
          <Chart
            title="RTO measured (restore drills)"
            summary={
              charts.drills.length
                ? `${charts.drills.length} drills, newest took ${duration(charts.drills[charts.drills.length - 1].d)}`
                : 'no restore drill in this range'
            }
            x={charts.drills.map((d) => d.t)}
            ys={[charts.drills.map((d) => (d.ok ? d.d : null)), charts.drills.map((d) => (d.ok ? null : d.d))]}
            series={[
              { label: 'Passed', color: '#2e7d4f', style: 'points' },
              { label: 'Failed', color: '#c62828', style: 'points' },
            ]}
            unit="seconds"
            testid="chart-rto"
          />
        </div>
      )}
    </section>
  );
}

function partsText(p: Point): string {
  return p.parts.map((x) => `${x.name} (${x.kind === 'files' ? `${x.files ?? '?'} files, ` : ''}${bytes(x.bytes)})`).join(', ');
}

export function VerifiedText({ v }: { v: Point['verified'] }) {
  if (!v) return <span class="muted">—</span>;
  if (v.outcome !== 'passed')
    return (
      <span class="verified-bad">
        drill {v.outcome} at <Time iso={v.at} />
      </span>
    );
  return (
    <span class="verified-ok">
      <span aria-hidden="true">✓ </span>verified restorable at <Time iso={v.at} /> in {duration(v.duration_s)}
    </span>
  );
}

function HistoryTable({ service, tick, onRestore }: { service: ServiceDetail; tick: number; onRestore: (p: Point) => void }) {
  const app = useApp();
  const PAGE = 50;
  // cursors[i] is the cursor that loads page i (page 0: none).
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState(0);
  const [data, setData] = useState<PointsPage | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);

  useEffect(() => {
    const ctl = new AbortController();
    const c = cursors[page];
    setLoading(true);
    api
      .get<PointsPage>(`/services/${enc(service.name)}/backups?limit=${PAGE}${c ? `&cursor=${enc(c)}` : ''}`, ctl.signal)
      .then((d) => {
        setData(d);
        setError(null);
      })
      .catch((e) => {
        if ((e as Error).name !== 'AbortError') setError(errorText(e));
      })
      .finally(() => !ctl.signal.aborted && setLoading(false));
    return () => ctl.abort();
  }, [page, page === 0 ? tick : 0]);

  // a new page starts at the top of the table
  const firstRender = useRef(true);
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    document.getElementById('history-h')?.scrollIntoView({ block: 'start' });
  }, [page]);

  const older = () => {
    if (!data?.next_cursor) return;
    setCursors((cs) => {
      const n = cs.slice(0, page + 1);
      n.push(data.next_cursor);
      return n;
    });
    setPage(page + 1);
  };

  return (
    <section aria-labelledby="history-h" class="history">
      <div class="section-head">
        <h2 id="history-h">Restore points</h2>
        <span class="small muted">newest first, {PAGE} per page</span>
      </div>
      <ErrorBox error={error} />
      {!data && loading && <Loading what="Loading restore points" />}
      {data && data.points.length === 0 && page === 0 && <Empty>No restore points yet. Use “Back up now” to take the first.</Empty>}
      {data && data.points.length > 0 && (
        <div class="table-wrap">
          <table class="table responsive" data-testid="history-table" aria-busy={loading}>
            <caption class="sr-only">
              Restore points of {service.name}, page {page + 1}
            </caption>
            <thead>
              <tr>
                <th scope="col">Created</th>
                <th scope="col">Kind</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">
                  Size
                </th>
                <th scope="col" class="num">
                  Added
                </th>
                <th scope="col">Parts</th>
                <th scope="col">Targets</th>
                <th scope="col">Verified</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data.points.map((p) => (
                <tr key={p.id} data-testid="point-row" data-point={p.id} data-time={p.time}>
                  <th scope="row" data-label="Created">
                    <a class="nowrap" href={href(`/services/${seg(service.name)}/points/${seg(p.id)}`)} title={`${utcTime(p.time)} · point ${p.id}`}>
                      {localTime(p.time)}
                    </a>
                    <code class="point-id">{shortId(p.id)}</code>
                  </th>
                  <td data-label="Kind">
                    <span class={`kind kind-${p.kind}`}>{kindLabel(p.kind)}</span>
                  </td>
                  <td data-label="Status">
                    <Status status={p.status} title={p.inexact_reasons.length ? p.inexact_reasons.join('; ') : undefined} />
                  </td>
                  <td data-label="Size" class="num">
                    {bytes(p.size)}
                  </td>
                  <td data-label="Added" class="num">
                    {bytes(p.added)}
                  </td>
                  <td data-label="Parts" class="small">
                    {partsText(p)}
                  </td>
                  <td data-label="Targets">{p.targets.join(', ')}</td>
                  <td data-label="Verified" class="small">
                    <VerifiedText v={p.verified} />
                  </td>
                  <td data-label="Actions" class="row-actions">
                    {p.parts.some((x) => x.kind === 'files') && (
                      <a class="btn btn-small" href={href(`/services/${seg(service.name)}/points/${seg(p.id)}`, { path: '/' })} aria-label={`Browse files of point ${shortId(p.id)}`}>
                        Files
                      </a>
                    )}
                    {app.can('operate') && (
                      <button type="button" class="btn btn-small" onClick={() => onRestore(p)} aria-label={`Restore point ${shortId(p.id)} from ${localTime(p.time)}`}>
                        Restore
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {data && (page > 0 || data.next_cursor) && (
        <div class="pager" role="group" aria-label="Pages of restore points">
          <button type="button" class="btn" disabled={page === 0 || loading} onClick={() => setPage(0)}>
            Newest
          </button>
          <button type="button" class="btn" disabled={page === 0 || loading} onClick={() => setPage(page - 1)}>
            ‹ Newer
          </button>
          <span class="small">Page {page + 1}</span>
          <button type="button" class="btn" disabled={!data.next_cursor || loading} onClick={older}>
            Older ›
          </button>
        </div>
      )}
    </section>
  );
}
