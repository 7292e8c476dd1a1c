import { useEffect, useState } from 'preact/hooks';
import { api, errorText, qs } from '../api';
import { useApp } from '../app';
import { useEvent } from '../events';
import { useDebounced, useTitle } from '../hooks';
import { href, seg } from '../router';
import type { Alert } from '../types';
import { Badge, Empty, ErrorBox, Loading, PageTitle, Time } from '../components/ui';

/** "What to do" when the daemon sends no `hint`: by the rule's name. */
export function advice(a: Alert): string {
  if (a.hint) return a.hint;
  const r = a.rule.toLowerCase();
  const svc = a.service ? ` of ${a.service}` : '';
  if (r.includes('fail')) return `Open the failed job's log${svc}, fix the cause it names, then use “Back up now” to check.`;
  if (r.includes('stale') || r.includes('fresh')) return `No good backup${svc} within its freshness target: check that its schedule is not paused and that the last jobs succeeded.`;
  if (r.includes('drill') || r.includes('verif')) return `Run a restore drill${svc} and read its validation result.`;
  if (r.includes('target') || r.includes('storage') || r.includes('repo')) return 'Check that the target is reachable and has space; then run a check.';
  if (r.includes('wal') || r.includes('archive') || r.includes('pitr')) return 'Check WAL/binlog archiving of the service and the archive target.';
  return 'Read the message, fix the cause; the alert resolves by itself when the condition clears.';
}

function AlertList({ state, tick, testid }: { state: 'open' | 'resolved'; tick: number; testid: string }) {
  const app = useApp();
  const [alerts, setAlerts] = useState<Alert[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | number | null>(null);

  const load = async (from: string | null) => {
    try {
      const r = await api.get<{ alerts: Alert[]; next_cursor: string | null }>('/alerts' + qs({ state, limit: 50, cursor: from }));
      const sev = (a: Alert) => (a.severity === 'critical' ? 0 : 1);
      // open ones: critical first (stable, so the daemon's order holds within each)
      const list = state === 'open' ? [...r.alerts].sort((a, b) => sev(a) - sev(b)) : r.alerts;
      setAlerts((old) => (from && old ? [...old, ...list] : list));
      setCursor(r.next_cursor);
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
  };
  useEffect(() => {
    load(null);
  }, [tick]);

  const ack = async (a: Alert) => {
    setBusy(a.id);
    try {
      const n = await api.post<Alert>(`/alerts/${a.id}/ack`, {});
      setAlerts((l) => l && l.map((x) => (x.id === a.id ? n : x)));
      app.reloadAlerts();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(null);
    }
  };

  if (error && !alerts) return <ErrorBox error={error} />;
  if (!alerts) return <Loading what={`Loading ${state} alerts`} />;
  return (
    <>
      <ErrorBox error={error} />
      {alerts.length === 0 ? (
        <Empty>{state === 'open' ? 'No open alerts: everything is fine.' : 'No resolved alerts yet.'}</Empty>
      ) : (
        <ul class="alert-list" data-testid={testid}>
          {alerts.map((a) => (
            <li key={a.id} class={`alert-item alert-${a.severity}`} data-testid="alert-item" data-service={a.service ?? ''} data-rule={a.rule}>
              <div class="alert-top">
                <Badge tone={a.severity === 'critical' ? 'bad' : 'warn'}>{a.severity}</Badge>
                <strong class="alert-msg">{a.message}</strong>
              </div>
              <p class="small alert-meta">
                {a.service && (
                  <>
                    service <a href={href(`/services/${seg(a.service)}`)}>{a.service}</a> ·{' '}
                  </>
                )}
                {a.target && <>target {a.target} · </>}
                rule <code>{a.rule}</code> · since <Time iso={a.first_seen} /> · last <Time iso={a.last_seen} rel /> · {a.count}×
                {a.resolved_at && (
                  <>
                    {' '}
                    · resolved <Time iso={a.resolved_at} />
                  </>
                )}
              </p>
              {!a.resolved_at && (
                <p class="alert-todo">
                  <strong>What to do:</strong> {advice(a)}
                </p>
              )}
              <div class="alert-actions">
                {a.acked_at ? (
                  <span class="small muted">
                    acknowledged by {a.acked_by ?? 'someone'} <Time iso={a.acked_at} />
                  </span>
                ) : (
                  state === 'open' &&
                  app.can('operate') && (
                    <button type="button" class="btn btn-small" onClick={() => ack(a)} disabled={busy === a.id} aria-label={`Acknowledge: ${a.message}`}>
                      Acknowledge
                    </button>
                  )
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
      {cursor && (
        <div class="pager">
          <button type="button" class="btn" onClick={() => load(cursor)}>
            Load more
          </button>
        </div>
      )}
    </>
  );
}

export function AlertsPage() {
  useTitle('Alerts');
  const [tick, setTick] = useState(0);
  const bump = useDebounced(() => setTick((t) => t + 1), 400);
  useEvent('alert', bump);
  return (
    <div>
      <PageTitle>Alerts</PageTitle>
      <section aria-labelledby="open-h">
        <h2 id="open-h">Open</h2>
        <AlertList state="open" tick={tick} testid="open-alerts" />
      </section>
      <section aria-labelledby="resolved-h">
        <h2 id="resolved-h">Resolved</h2>
        <AlertList state="resolved" tick={tick} testid="resolved-alerts" />
      </section>
    </div>
  );
}
