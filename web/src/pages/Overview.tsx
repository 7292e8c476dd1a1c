import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { useApp } from '../app';
import { enc } from '../api';
import { useEvent } from '../events';
import { memo, useApi, useDebounced, useNow, useTitle, useWindowRows } from '../hooks';
import { ageAgo, browserZone, bytes, percent, plural, relative } from '../format';
import { href, seg } from '../router';
import type { Calendar, CalendarCell, Job, Service, ServicesResponse } from '../types';
import { Check, Empty, ErrorBox, HealthBadge, Loading, PageTitle, Status, Time } from '../components/ui';

const ORDER: Record<string, number> = { failing: 0, stale: 1, unknown: 2, healthy: 3 };

export function sortTroubleFirst(list: Service[]): Service[] {
  return [...list].sort((a, b) => (ORDER[a.health.state] ?? 9) - (ORDER[b.health.state] ?? 9) || a.name.localeCompare(b.name));
}

export function Overview() {
  useTitle('Overview');
  const app = useApp();
  const svc = useApi<ServicesResponse>('/services');
  const [filter, setFilter] = useState('');
  const [running, setRunning] = useState<Record<string, Job>>({});
  const now = useNow(30000);

  const reload = useDebounced(svc.reload, 800);
  useEvent('service', reload);
  useEvent('job', (j: Job) => {
    if (!j.service) return;
    setRunning((r) => {
      const n = { ...r };
      if (j.status === 'running' || j.status === 'queued') n[j.service!] = j;
      else delete n[j.service!];
      return n;
    });
  });

  const data = svc.data;
  // The services answer carries the configuration status too.
  useEffect(() => {
    if (data?.config) app.setConfig(data.config);
  }, [data]);
  const services = useMemo(() => (data ? sortTroubleFirst(data.services) : []), [data]);
  const order = useMemo(() => services.map((s) => s.name), [services]);
  const shown = useMemo(() => {
    const f = filter.trim().toLowerCase();
    return f ? services.filter((s) => s.name.toLowerCase().includes(f) || s.type.toLowerCase().includes(f) || s.health.state.includes(f)) : services;
  }, [services, filter]);

  const sum = data?.summary;
  return (
    <div>
      <PageTitle>Overview</PageTitle>
      <ErrorBox error={svc.error} />
      {!data && !svc.error && <Loading what="Loading services" />}
      {sum && (
        <p class="summary" data-testid="summary">
          <strong>{plural(sum.services, 'service')}</strong>: <span class="sum-ok">{sum.healthy} healthy</span>,{' '}
          <span class={sum.failing ? 'sum-bad' : ''}>{sum.failing} failing</span>, <span class={sum.stale ? 'sum-warn' : ''}>{sum.stale} stale</span>
          {sum.unknown ? <>, {sum.unknown} not backed up yet</> : null} · <a href="#/alerts">{plural(sum.alerts_open, 'alert')} open</a>
        </p>
      )}
      {data && (
        <section aria-labelledby="services-h">
          <div class="section-head">
            <h2 id="services-h">Services</h2>
            {services.length > 8 && (
              <div class="inline-field">
                <label for="svc-filter">Filter</label>
                <input id="svc-filter" type="search" value={filter} placeholder="name, type or state" onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
              </div>
            )}
          </div>
          {services.length === 0 ? (
            <Empty>No services are configured. Declare them under services: in the configuration file.</Empty>
          ) : (
            <ServicesTable services={shown} running={running} now={now} />
          )}
        </section>
      )}
      {(!data || services.length > 0) && <CalendarGrid order={order} />}
    </div>
  );
}

const ServicesTable = memo(function ServicesTable({ services, running, now }: { services: Service[]; running: Record<string, Job>; now: number }) {
  // With hundreds of services only the rows near the viewport are in the DOM.
  const body = useRef<HTMLTableSectionElement>(null);
  const win = useWindowRows(services.length, body);
  return (
    <div class="table-wrap">
      <table class="table responsive" data-testid="services-table" aria-rowcount={services.length + 1} data-rows={services.length}>
        <caption class="sr-only">Every service, trouble first</caption>
        <thead>
          <tr>
            <th scope="col">Service</th>
            <th scope="col">Health</th>
            <th scope="col">Newest restore point</th>
            <th scope="col">Last job</th>
            <th scope="col">Next run</th>
            <th scope="col" class="num">
              Size
            </th>
            <th scope="col">Targets</th>
          </tr>
        </thead>
        <tbody ref={body}>
          {win.before > 0 && (
            <tr class="spacer-row" aria-hidden="true">
              <td colSpan={7} style={{ height: `${win.before}px` }} />
            </tr>
          )}
          {services.slice(win.from, win.to).map((s, k) => {
            const run = running[s.name] ?? s.running_job;
            const h = s.health;
            return (
              <tr
                key={s.name}
                class={`row-${h.state}`}
                data-testid="service-row"
                data-vrow=""
                aria-rowindex={win.enabled ? win.from + k + 2 : undefined}
                data-service={s.name}
                data-health={h.state}
              >
                <th scope="row" data-label="Service" class="svc-cell">
                  <a href={href(`/services/${seg(s.name)}`)} class="svc-link">
                    {s.name}
                  </a>
                  <span class="svc-type small">{s.type}</span>
                  {run && (run.status === 'running' || run.status === 'queued') && (
                    <span class="running small">
                      {run.kind} {run.status === 'queued' ? 'queued' : percent(run.progress?.percent ?? null) || 'running'}
                    </span>
                  )}
                </th>
                <td data-label="Health">
                  <HealthBadge state={h.state} />
                  <span class="checks">
                    <Check label="recent" ok={h.recent.ok} detail={h.recent.detail} pending={h.state === 'unknown'} />
                    <Check label="complete" ok={h.complete.ok} detail={h.complete.detail} pending={h.state === 'unknown'} />
                    <Check label="verified" ok={h.verified.ok} detail={h.verified.detail} soft pending={h.state === 'unknown'} />
                  </span>
                  {s.alerts_open > 0 && (
                    <a class="alert-count small" href="#/alerts">
                      {plural(s.alerts_open, 'alert')}
                    </a>
                  )}
                </td>
                <td data-label="Newest point">
                  {s.last_backup ? (
                    <>
                      <Time iso={s.last_backup.time} />
                      <span class={`age small ${h.recent.ok ? '' : 'age-bad'}`}> {ageAgo(s.last_backup.time, now)}</span>
                    </>
                  ) : (
                    <span class="muted">none yet</span>
                  )}
                </td>
                <td data-label="Last job">
                  {s.last_job ? (
                    <>
                      <a href={href(`/jobs/${s.last_job.id}`)} class="plain-link">
                        <Status status={s.last_job.status} title={s.last_job.error ?? undefined} />
                      </a>{' '}
                      <span class="small muted">{s.last_job.ended_at ? relative(s.last_job.ended_at, now) : ''}</span>
                    </>
                  ) : (
                    <span class="muted">—</span>
                  )}
                </td>
                <td data-label="Next run">
                  {s.schedule?.paused ? (
                    <span class="badge badge-warn">paused</span>
                  ) : s.next_run ? (
                    <span title={new Date(s.next_run).toUTCString()}>{relative(s.next_run, now)}</span>
                  ) : (
                    <span class="muted">not scheduled</span>
                  )}
                </td>
                <td data-label="Size" class="num">
                  {bytes(s.size ?? s.last_backup?.size)}
                </td>
                <td data-label="Targets">{s.targets.join(', ')}</td>
              </tr>
            );
          })}
          {win.after > 0 && (
            <tr class="spacer-row" aria-hidden="true">
              <td colSpan={7} style={{ height: `${win.after}px` }} />
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
});

const CELL_TEXT: Record<CalendarCell, string> = { ok: 'backed up', failed: 'failed', missing: 'missing', none: 'nothing due' };

const ROW_H = 24; // px, one calendar row (cell height plus spacing); measured after the first render
const VIRTUAL_FROM = 60; // rows; above this only the rows in view (and a margin) are in the DOM

const CalendarGrid = memo(function CalendarGrid({ order }: { order: string[] }) {
  const cal = useApi<Calendar>(`/calendar?days=30&tz=${enc(browserZone)}`);
  const reload = useDebounced(cal.reload, 5000);
  useEvent('service', reload);
  const wrap = useRef<HTMLDivElement>(null);
  const rowH = useRef(ROW_H);
  const [range, setRange] = useState<[number, number]>([0, 40]);
  const rows = useMemo(() => {
    if (!cal.data) return [];
    const byName = new Map(cal.data.services.map((s) => [s.name, s]));
    const out = order.map((n) => byName.get(n)).filter(Boolean) as Calendar['services'];
    const known = new Set(order);
    for (const s of cal.data.services) if (!known.has(s.name)) out.push(s);
    return out;
  }, [cal.data, order]);
  const virtual = rows.length > VIRTUAL_FROM;
  const onScroll = () => {
    const el = wrap.current;
    if (!el || !virtual) return;
    const first = el.querySelector<HTMLElement>('tbody tr.cal-row');
    if (first && first.offsetHeight) rowH.current = first.offsetHeight + 2;
    const start = Math.max(0, Math.floor(el.scrollTop / rowH.current) - 15);
    const end = Math.min(rows.length, Math.ceil((el.scrollTop + el.clientHeight) / rowH.current) + 15);
    if (start !== range[0] || end !== range[1]) setRange([start, end]);
  };
  useEffect(onScroll, [rows.length]);
  // Where the 30 days do not fit (a phone), start at today's end: the names stay (sticky), the oldest days scroll in.
  const loaded = !!cal.data;
  useEffect(() => {
    const el = wrap.current;
    if (el && el.scrollWidth > el.clientWidth) el.scrollLeft = el.scrollWidth;
  }, [loaded]);
  const days = cal.data?.days ?? [];
  const fmtDay = (d: string) => new Date(d + 'T12:00:00Z').toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
  const [from, to] = virtual ? range : [0, rows.length];
  return (
    <section aria-labelledby="cal-h" class="calendar-section">
      <div class="section-head">
        <h2 id="cal-h">Last 30 days</h2>
        <ul class="legend" aria-label="Legend">
          <li>
            <span class="cell cell-ok" aria-hidden="true" /> backed up
          </li>
          <li>
            <span class="cell cell-failed" aria-hidden="true" /> failed
          </li>
          <li>
            <span class="cell cell-missing" aria-hidden="true" /> missing (due, none succeeded)
          </li>
          <li>
            <span class="cell cell-none" aria-hidden="true" /> nothing due
          </li>
        </ul>
      </div>
      <ErrorBox error={cal.error} />
      {!cal.data && !cal.error && <Loading what="Loading the calendar" />}
      {cal.data && (
        <div
          class="calendar-wrap"
          ref={wrap}
          onScroll={onScroll}
          tabIndex={0}
          role="region"
          aria-label="Backups per day and service, last 30 days (scrolls)"
        >
          <table class="calendar" data-testid="calendar" aria-rowcount={rows.length + 1} data-rows={rows.length}>
            <caption class="sr-only">One cell per day (time zone {browserZone}) and service</caption>
            <thead>
              <tr aria-rowindex={1}>
                <th scope="col" class="cal-name">
                  Service
                </th>
                {days.map((d, i) => (
                  <th scope="col" key={d}>
                    <abbr title={fmtDay(d)}>{i === 0 || d.endsWith('-01') ? fmtDay(d) : d.slice(8)}</abbr>
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {from > 0 && (
                <tr class="cal-spacer" aria-hidden="true">
                  <td colSpan={days.length + 1} style={{ height: `${from * rowH.current}px` }} />
                </tr>
              )}
              {rows.slice(from, to).map((s, k) => (
                <tr key={s.name} class="cal-row" aria-rowindex={from + k + 2} data-service={s.name}>
                  <th scope="row" class="cal-name">
                    <a href={href(`/services/${seg(s.name)}`)}>{s.name}</a>
                  </th>
                  {s.cells.map((c, i) => (
                    // The mark (✗, !) is drawn by CSS; the words are for screen readers.
                    <td key={i} class={`cell cell-${c}`} title={`${s.name}, ${days[i]}: ${CELL_TEXT[c]}`}>
                      <span class="sr-only">{CELL_TEXT[c]}</span>
                    </td>
                  ))}
                </tr>
              ))}
              {to < rows.length && (
                <tr class="cal-spacer" aria-hidden="true">
                  <td colSpan={days.length + 1} style={{ height: `${(rows.length - to) * rowH.current}px` }} />
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
});
