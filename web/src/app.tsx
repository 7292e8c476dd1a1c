import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, currentSession, errorText, onAuthProblem, signOut } from './api';
import { onConnection, startEvents, stopEvents, useEvent } from './events';
import { useDebounced } from './hooks';
import { href, useRoute } from './router';
import type { Alert, ConfigStatus, Role, Session } from './types';
import { Time, focusTitleOnNextPage } from './components/ui';
import { SignIn } from './pages/SignIn';
import { Overview } from './pages/Overview';
import { ServicePage } from './pages/Service';
import { PointPage } from './pages/Point';
import { JobsPage, JobPage } from './pages/Jobs';
import { AlertsPage } from './pages/Alerts';
import { SchedulesPage } from './pages/Schedules';

export interface AppState {
  session: Session;
  can: (r: Role) => boolean;
  config: ConfigStatus | null;
  setConfig: (c: ConfigStatus) => void;
  openAlerts: Alert[];
  reloadAlerts: () => void;
}

export const AppCtx = createContext<AppState>(null as unknown as AppState);
export const useApp = () => useContext(AppCtx);

const RANK: Record<Role, number> = { read: 0, operate: 1, admin: 2 };

function sameAlerts(a: Alert[], b: Alert[]): boolean {
  return a.length === b.length && a.every((x, i) => x.id === b[i].id && x.last_seen === b[i].last_seen && x.acked_at === b[i].acked_at);
}

/** The open alerts after an `alert` event: a resolved one leaves, an open one is added or replaced. */
function withAlert(open: Alert[], a: Alert): Alert[] {
  const rest = open.filter((x) => x.id !== a.id);
  if (a.resolved_at) return rest.length === open.length ? open : rest;
  const i = open.findIndex((x) => x.id === a.id);
  if (i < 0) return [a, ...open];
  const next = open.slice();
  next[i] = a;
  return next;
}

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [notice, setNotice] = useState<string | null>(null);
  const [bootError, setBootError] = useState<string | null>(null);

  useEffect(() => {
    currentSession()
      .then(setSession)
      .catch((e) => {
        setBootError(errorText(e));
        setSession(null);
      });
    return onAuthProblem((status) => {
      if (status === 401) {
        setSession((s) => {
          if (s) setNotice('Your session has expired. Sign in again.');
          return null;
        });
      }
    });
  }, []);

  // The server extends the session on use; check it when it would have ended.
  useEffect(() => {
    if (!session) return;
    const ms = new Date(session.expires_at).getTime() - Date.now();
    if (!isFinite(ms)) return;
    const t = window.setTimeout(
      () =>
        currentSession().then((s) => {
          if (!s) setNotice('Your session has expired. Sign in again.');
          setSession(s);
        }),
      Math.min(Math.max(ms + 1000, 5000), 2 ** 31 - 1),
    );
    return () => clearTimeout(t);
  }, [session]);

  if (session === undefined) return <p class="boot muted">Loading Cairn…</p>;
  if (!session)
    return (
      <SignIn
        notice={notice ?? bootError}
        onSignedIn={(s) => {
          focusTitleOnNextPage();
          setNotice(null);
          setBootError(null);
          setSession(s);
        }}
      />
    );
  return (
    <Shell
      session={session}
      onSignOut={async () => {
        try {
          await signOut();
        } catch {
          /* the cookie is gone either way on the next 401 */
        }
        setNotice('You are signed out.');
        setSession(null);
      }}
    />
  );
}

function Shell({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const route = useRoute();
  const [config, setConfig] = useState<ConfigStatus | null>(null);
  const [openAlerts, setOpenAlerts] = useState<Alert[]>([]);
  const [live, setLive] = useState(false);
  const [unavailable, setUnavailable] = useState(false);

  useEffect(() => {
    startEvents();
    const off = onConnection(setLive);
    const off503 = onAuthProblem((s) => {
      if (s === 503) setUnavailable(true);
    });
    return () => {
      off();
      off503();
      stopEvents();
    };
  }, []);

  const loadConfig = useCallback(() => {
    api
      .get<ConfigStatus>('/config')
      .then((c) => {
        setConfig(c);
        setUnavailable(false);
      })
      .catch(() => {});
  }, []);
  // Answers that were asked before the newest `alert` event or a newer request
  // are stale: they must not bring back an alert that has been resolved since.
  const alertsAsked = useRef(0);
  const loadAlerts = useCallback(() => {
    const asked = ++alertsAsked.current;
    api
      .get<{ alerts: Alert[] }>('/alerts?state=open&limit=100')
      .then((r) => {
        if (asked === alertsAsked.current) setOpenAlerts((old) => (sameAlerts(old, r.alerts) ? old : r.alerts));
      })
      .catch(() => {});
  }, []);
  useEffect(() => {
    loadConfig();
    loadAlerts();
    // a stream that stalls without closing loses events too: check once a minute
    const resync = window.setInterval(loadAlerts, 60000);
    // events sent while the stream was down are lost: catch up on every (re)connect
    const off = onConnection((up) => {
      if (up) {
        loadConfig();
        loadAlerts();
      }
    });
    return () => {
      clearInterval(resync);
      off();
    };
  }, []);
  const reloadAlerts = useDebounced(loadAlerts, 300);
  useEvent('alert', (a: Alert) => {
    // The event itself says whether the alert is open: the badge and the
    // banner follow it at once, and the list is fetched again to be sure.
    alertsAsked.current++;
    setOpenAlerts((old) => withAlert(old, a));
    reloadAlerts();
  });
  useEvent('config', (c: ConfigStatus) => {
    setConfig(c);
    if (c.ok) setUnavailable(false);
  });

  // One stable context value, so screens re-render only when one of these changes.
  const state: AppState = useMemo(
    () => ({
      session,
      can: (r: Role) => RANK[session.role] >= RANK[r],
      config,
      setConfig: (c: ConfigStatus) =>
        setConfig((old) => (old && old.ok === c.ok && old.error === c.error && old.loaded_at === c.loaded_at && old.file === c.file ? old : c)),
      openAlerts,
      reloadAlerts: loadAlerts,
    }),
    [session, config, openAlerts],
  );

  const s = route.segments;
  let page;
  if (s.length === 0) page = <Overview />;
  else if (s[0] === 'services' && s.length === 2) page = <ServicePage key={s[1]} name={s[1]} />;
  else if (s[0] === 'services' && s[2] === 'points' && s.length === 4)
    page = <PointPage key={s[1] + '/' + s[3]} name={s[1]} point={s[3]} path={route.query.get('path') || '/'} />;
  else if (s[0] === 'jobs' && s.length === 1) page = <JobsPage query={route.query} />;
  else if (s[0] === 'jobs' && s.length === 2) page = <JobPage key={s[1]} id={Number(s[1])} />;
  else if (s[0] === 'alerts') page = <AlertsPage />;
  else if (s[0] === 'schedules') page = <SchedulesPage />;
  else
    page = (
      <div>
        <h1>Not found</h1>
        <p>
          There is no page at <code>{route.path}</code>. <a href="#/">Go to the overview</a>.
        </p>
      </div>
    );

  const nav = [
    { to: '/', label: 'Overview', match: s.length === 0 || s[0] === 'services' },
    { to: '/jobs', label: 'Jobs', match: s[0] === 'jobs' },
    { to: '/alerts', label: 'Alerts', match: s[0] === 'alerts', count: openAlerts.length },
    { to: '/schedules', label: 'Schedules', match: s[0] === 'schedules' },
  ];

  return (
    <AppCtx.Provider value={state}>
      <a class="skip-link" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="#/">
          <img src="/favicon.svg" alt="" width={22} height={22} />
          Cairn
        </a>
        <nav aria-label="Main">
          <ul>
            {nav.map((n) => (
              <li key={n.to}>
                <a href={href(n.to)} aria-current={n.match ? 'page' : undefined}>
                  {n.label}
                  {n.count ? (
                    <span class="nav-count" aria-label={`, ${n.count} open`}>
                      {n.count}
                    </span>
                  ) : null}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="topbar-right">
          <span class={live ? 'live live-on' : 'live'} title={live ? 'Live updates connected' : 'Live updates disconnected; reconnecting'}>
            <span aria-hidden="true">●</span> {live ? 'live' : 'offline'}
          </span>
          <span class="who small" title={`Session expires ${new Date(session.expires_at).toLocaleString()} if idle`}>
            {session.user} ({session.role})
          </span>
          <button type="button" class="btn btn-small" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <div class="banners">
        {config && !config.ok && (
          <div class="banner banner-bad" role="alert" data-testid="config-error">
            <strong>Configuration error</strong> in <code>{config.file}</code>: {config.error}. The daemon did not apply this file and goes on with
            the last good configuration{config.loaded_at ? <> (loaded <Time iso={config.loaded_at} />)</> : null}. Fix the file; it is reloaded
            when it changes.
          </div>
        )}
        {unavailable && (!config || config.ok) && (
          <div class="banner banner-bad" role="alert" data-testid="config-error">
            <strong>The configuration is not loaded.</strong> The daemon answers 503 until a valid configuration file is loaded.
          </div>
        )}
        {openAlerts.length > 0 && s[0] !== 'alerts' && <AlertBanner alerts={openAlerts} />}
      </div>
      <main id="main" tabIndex={-1}>
        {page}
      </main>
    </AppCtx.Provider>
  );
}

function AlertBanner({ alerts }: { alerts: Alert[] }) {
  const crit = alerts.filter((a) => a.severity === 'critical').length;
  const top = [...alerts].sort((a, b) => (a.severity === b.severity ? b.last_seen.localeCompare(a.last_seen) : a.severity === 'critical' ? -1 : 1)).slice(0, 3);
  return (
    <div class={crit ? 'banner banner-bad' : 'banner banner-warn'} role="region" aria-label="Open alerts" data-testid="alert-banner">
      <p>
        <strong>
          {alerts.length} open alert{alerts.length === 1 ? '' : 's'}
        </strong>
        {crit ? ` (${crit} critical)` : ''}: <a href="#/alerts">see all alerts</a>
      </p>
      <ul class="plain">
        {top.map((a) => (
          <li key={a.id}>
            <span class="sev">{a.severity}</span> {a.service ? <strong>{a.service}</strong> : null} {a.message}
          </li>
        ))}
      </ul>
    </div>
  );
}
