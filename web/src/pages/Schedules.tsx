import { useMemo, useState } from 'preact/hooks';
import { api, enc, errorText } from '../api';
import { useApp } from '../app';
import { useEvent } from '../events';
import { useApi, useDebounced, useNow, useTitle } from '../hooks';
import { relative, scheduleText } from '../format';
import { href, seg } from '../router';
import type { ScheduleEntry } from '../types';
import { Empty, ErrorBox, Loading, PageTitle, Time } from '../components/ui';

export function SchedulesPage() {
  useTitle('Schedules');
  const app = useApp();
  const sch = useApi<{ schedules: ScheduleEntry[] }>('/schedules');
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState('');
  const [filter, setFilter] = useState('');
  const now = useNow(30000);
  const reload = useDebounced(sch.reload, 1000);
  useEvent('service', reload);
  useEvent('config', reload);

  const toggle = async (e: ScheduleEntry) => {
    setBusy(e.key);
    setError(null);
    try {
      const n = await api.post<ScheduleEntry>(`/schedules/${enc(e.key)}/${e.paused ? 'resume' : 'pause'}`, {});
      sch.setData({ schedules: sch.data!.schedules.map((x) => (x.key === e.key ? n : x)) });
      setStatus(`${n.kind} schedule of ${n.service}${n.target ? ` (${n.target})` : ''} ${n.paused ? 'paused' : 'resumed'}.`);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(null);
    }
  };

  const list = useMemo(() => {
    const l = sch.data?.schedules ?? [];
    const f = filter.trim().toLowerCase();
    return (f ? l.filter((x) => x.service.toLowerCase().includes(f) || x.kind.includes(f) || (x.target ?? '').includes(f)) : l)
      .slice()
      .sort((a, b) => a.service.localeCompare(b.service) || a.kind.localeCompare(b.kind) || (a.target ?? '').localeCompare(b.target ?? ''));
  }, [sch.data, filter]);

  return (
    <div>
      <PageTitle>Schedules</PageTitle>
      <p class="hint">
        Schedules are set in the configuration file; the daemon reloads it when it changes. Pausing here stops the runs until you resume.
      </p>
      <ErrorBox error={sch.error || error} />
      <p role="status" class="sr-only">
        {status}
      </p>
      {!sch.data && !sch.error && <Loading what="Loading schedules" />}
      {sch.data && sch.data.schedules.length > 8 && (
        <div class="inline-field filter-row">
          <label for="sch-filter">Filter</label>
          <input id="sch-filter" type="search" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
        </div>
      )}
      {sch.data && list.length === 0 && <Empty>No schedules.</Empty>}
      {list.length > 0 && (
        <div class="table-wrap">
          <table class="table responsive" data-testid="schedules-table">
            <caption class="sr-only">Every schedule with its next runs</caption>
            <thead>
              <tr>
                <th scope="col">Service</th>
                <th scope="col">Kind</th>
                <th scope="col">Target</th>
                <th scope="col">Schedule</th>
                <th scope="col">Next runs</th>
                <th scope="col">Last run</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {list.map((e) => (
                <tr key={e.key} data-testid="schedule-row" data-key={e.key} data-service={e.service} data-paused={String(e.paused)}>
                  <th scope="row" data-label="Service">
                    <a href={href(`/services/${seg(e.service)}`)}>{e.service}</a>
                  </th>
                  <td data-label="Kind">{e.kind}</td>
                  <td data-label="Target">{e.target ?? <span class="muted">all</span>}</td>
                  <td data-label="Schedule">{scheduleText(e.schedule)}</td>
                  <td data-label="Next runs">
                    {e.paused ? (
                      <span class="muted">none while paused</span>
                    ) : e.next_runs.length ? (
                      <ul class="plain next-runs">
                        {e.next_runs.slice(0, 3).map((t, i) => (
                          <li key={t}>
                            <Time iso={t} />
                            {i === 0 && <span class="small muted"> ({relative(t, now)})</span>}
                          </li>
                        ))}
                      </ul>
                    ) : (
                      <span class="muted">none</span>
                    )}
                  </td>
                  <td data-label="Last run">
                    {e.last_run ? <Time iso={e.last_run} /> : <span class="muted">never</span>}
                    {e.job_id !== null && (
                      <>
                        {' '}
                        <a href={href(`/jobs/${e.job_id}`)} class="small">
                          job {e.job_id}
                        </a>
                      </>
                    )}
                  </td>
                  <td data-label="State" class="row-actions">
                    {e.paused ? <span class="badge badge-warn">paused</span> : <span class="badge badge-ok">active</span>}{' '}
                    {app.can('operate') && (
                      <button
                        type="button"
                        class="btn btn-small"
                        disabled={busy === e.key}
                        onClick={() => toggle(e)}
                        aria-label={`${e.paused ? 'Resume' : 'Pause'} the ${e.kind} schedule of ${e.service}${e.target ? ` to ${e.target}` : ''}`}
                      >
                        {e.paused ? 'Resume' : 'Pause'}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
