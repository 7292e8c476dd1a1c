import { useEffect, useState } from 'preact/hooks';
import { api, enc, errorText } from '../api';
import { useApp } from '../app';
import { bytes, localTime, shortId, utcTime } from '../format';
import type { Point, PointsPage, ServiceDetail } from '../types';
import { JobPanel } from './JobView';
import { Dialog, ErrorBox } from './ui';

/** "Back up now": every target, or one. */
export function BackupDialog({ service, onClose, onStarted }: { service: ServiceDetail; onClose: () => void; onStarted: (id: number) => void }) {
  const [target, setTarget] = useState<string>('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await api.post<{ job_id: number }>(`/services/${enc(service.name)}/backups`, target ? { target } : {});
      onStarted(r.job_id);
      onClose();
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <Dialog title={`Back up ${service.name} now`} onClose={onClose} testid="backup-dialog">
      <form onSubmit={submit}>
        <fieldset>
          <legend>Targets</legend>
          <label class="radio">
            <input type="radio" name="target" value="" checked={target === ''} onChange={() => setTarget('')} />
            All targets ({service.targets.join(', ')})
          </label>
          {service.targets.length > 1 &&
            service.targets.map((t) => (
              <label class="radio" key={t}>
                <input type="radio" name="target" value={t} checked={target === t} onChange={() => setTarget(t)} />
                Only {t}
              </label>
            ))}
        </fieldset>
        <p class="hint">Each target gets its own restore point. Progress is shown live on the service page.</p>
        <ErrorBox error={error} />
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="btn btn-primary" disabled={busy}>
            {busy ? 'Starting…' : 'Start backup'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

const SERVER_TYPES = new Set(['postgres', 'mysql', 'redis']);

/** What an overwrite restore replaces: the daemon's list (docs/api.md `replaces`), else what the configuration tells. */
export function replacedThings(s: ServiceDetail, point: Point | null): string[] {
  if (s.replaces && s.replaces.length) return s.replaces;
  const out: string[] = [];
  const typeName: Record<string, string> = { postgres: 'PostgreSQL', mysql: 'MariaDB/MySQL', redis: 'Redis', sqlite: 'SQLite' };
  if (s.type !== 'volume') {
    const parts = point ? point.parts.filter((p) => p.kind === 'stream').map((p) => p.name) : [];
    out.push(`the ${typeName[s.type] ?? s.type} data of service ${s.name}${parts.length ? ` (parts ${parts.join(', ')})` : ''}`);
  }
  for (const v of s.volumes) out.push(`the directory ${v}`);
  if (!out.length) out.push(`all data of service ${s.name}`);
  return out;
}

function pointLabel(p: Point): string {
  return `${localTime(p.time)} · ${p.kind} · ${bytes(p.size)} · ${shortId(p.id)}${p.status !== 'complete' ? ` (${p.status})` : ''}`;
}

/** Restore: choose a point and a mode; an overwrite names what it replaces and needs the service name typed. */
export function RestoreDialog({ service, point, onClose }: { service: ServiceDetail; point: Point | null; onClose: () => void }) {
  const app = useApp();
  const canOverwrite = app.can('admin');
  const [points, setPoints] = useState<Point[] | null>(point ? [point] : null);
  const [pointId, setPointId] = useState<string>(point ? point.id : 'latest');
  const [mode, setMode] = useState<'new-instance' | 'overwrite'>('new-instance');
  const [asName, setAsName] = useState('');
  const [port, setPort] = useState('');
  const [target, setTarget] = useState('');
  const [confirm, setConfirm] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [jobId, setJobId] = useState<number | null>(null);
  const [pitrAt, setPitrAt] = useState('');

  // Without a preselected point, offer the newest page of points.
  useEffect(() => {
    if (point) return;
    api
      .get<PointsPage>(`/services/${enc(service.name)}/backups?limit=50`)
      .then((r) => setPoints(r.points))
      .catch((e) => setError(errorText(e)));
  }, []);

  const chosen = points?.find((p) => p.id === pointId) ?? null;
  const confirmed = confirm === service.name;
  const replaces = replacedThings(service, chosen);
  const targets = chosen ? chosen.targets : service.targets;

  const submit = async (e: Event) => {
    e.preventDefault();
    if (mode === 'overwrite' && !confirmed) {
      setError(`Type ${service.name} to confirm the overwrite.`);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const body = {
        point: pitrAt ? null : pointId,
        mode,
        confirm: mode === 'overwrite' ? confirm : null,
        target: target || null,
        as: mode === 'new-instance' && asName ? asName : null,
        port: mode === 'new-instance' && port ? Number(port) : null,
        at: pitrAt ? new Date(pitrAt).toISOString() : null,
      };
      const r = await api.post<{ job_id: number }>(`/services/${enc(service.name)}/restores`, body);
      setJobId(r.job_id);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  if (jobId !== null) {
    return (
      <Dialog title={`Restore of ${service.name}`} onClose={onClose} wide testid="restore-dialog">
        <p>
          {mode === 'overwrite' ? 'Overwriting' : 'Restoring as a new instance'} from{' '}
          {chosen ? (
            <span title={utcTime(chosen.time)}>point {shortId(chosen.id)}</span>
          ) : pitrAt ? (
            `the state at ${new Date(pitrAt).toLocaleString()}`
          ) : (
            'the newest point'
          )}
          .
        </p>
        <JobPanel id={jobId} title={`Restore job ${jobId}`} inDialog />
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={onClose}>
            Close
          </button>
        </div>
      </Dialog>
    );
  }

  const isServer = SERVER_TYPES.has(service.type);
  return (
    <Dialog title={`Restore ${service.name}`} onClose={onClose} wide testid="restore-dialog">
      <form onSubmit={submit} noValidate>
        <div class="field">
          <label for="restore-point">Restore point</label>
          <select id="restore-point" value={pointId} onChange={(e) => setPointId((e.target as HTMLSelectElement).value)} disabled={!!pitrAt}>
            {!point && <option value="latest">The newest complete point (latest)</option>}
            {(points ?? []).map((p) => (
              <option key={p.id} value={p.id}>
                {pointLabel(p)}
              </option>
            ))}
          </select>
        </div>
        {service.pitr && (
          <div class="field">
            <label for="restore-at">Or a point in time (optional)</label>
            <input id="restore-at" type="datetime-local" value={pitrAt} onInput={(e) => setPitrAt((e.target as HTMLInputElement).value)} aria-describedby="restore-at-hint" />
            <p class="hint" id="restore-at-hint">
              Recoverable from {localTime(service.pitr.window_start)} to {localTime(service.pitr.window_end)} (your time zone).
            </p>
          </div>
        )}
        <fieldset>
          <legend>How</legend>
          <label class="radio">
            <input type="radio" name="mode" value="new-instance" checked={mode === 'new-instance'} onChange={() => setMode('new-instance')} />
            <span>
              <strong>New instance</strong>: recreate the service beside the original, which is not touched.
            </span>
          </label>
          <label class={canOverwrite ? 'radio' : 'radio disabled'}>
            <input type="radio" name="mode" value="overwrite" checked={mode === 'overwrite'} disabled={!canOverwrite} onChange={() => setMode('overwrite')} />
            <span>
              <strong>Overwrite</strong>: replace the current data of {service.name}.{!canOverwrite && ' (needs the admin role)'}
            </span>
          </label>
        </fieldset>
        {mode === 'new-instance' && (
          <div class="grid2">
            <div class="field">
              <label for="restore-as">{service.type === 'volume' || service.type === 'sqlite' ? 'New path (optional)' : 'New name (optional)'}</label>
              <input id="restore-as" value={asName} onInput={(e) => setAsName((e.target as HTMLInputElement).value)} aria-describedby="restore-as-hint" />
              <p class="hint" id="restore-as-hint">
                Default: a name with “restored” and the time in it. A name that is taken is refused before anything is created.
              </p>
            </div>
            {isServer && (
              <div class="field">
                <label for="restore-port">Port (optional)</label>
                <input id="restore-port" inputMode="numeric" pattern="[0-9]*" value={port} onInput={(e) => setPort((e.target as HTMLInputElement).value.replace(/\D/g, ''))} />
              </div>
            )}
          </div>
        )}
        {targets.length > 1 && (
          <div class="field">
            <label for="restore-target">From target</label>
            <select id="restore-target" value={target} onChange={(e) => setTarget((e.target as HTMLSelectElement).value)}>
              <option value="">Any target that holds it</option>
              {targets.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          </div>
        )}
        {mode === 'overwrite' && (
          <div class="danger-zone" data-testid="overwrite-warning">
            <p>
              <strong>This replaces:</strong>
            </p>
            <ul>
              {replaces.map((r) => (
                <li key={r}>{r}</li>
              ))}
            </ul>
            <p>
              with the data of {chosen ? <>point {shortId(chosen.id)} from {localTime(chosen.time)}</> : pitrAt ? 'the chosen point in time' : 'the newest complete point'}.
            </p>
            <p>
              <strong>A safety backup of the current data is taken first</strong> (a restore point of kind “safety”). If it fails, nothing is restored.
            </p>
            <div class="field">
              <label for="restore-confirm">
                Type <code>{service.name}</code> to confirm
              </label>
              <input
                id="restore-confirm"
                value={confirm}
                autoComplete="off"
                spellcheck={false}
                onInput={(e) => setConfirm((e.target as HTMLInputElement).value)}
                aria-invalid={confirm !== '' && !confirmed ? true : undefined}
              />
            </div>
          </div>
        )}
        <ErrorBox error={error} />
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={onClose}>
            Cancel
          </button>
          {mode === 'overwrite' ? (
            <button type="submit" class="btn btn-danger" disabled={busy || !confirmed}>
              {busy ? 'Starting…' : `Overwrite ${service.name}`}
            </button>
          ) : (
            <button type="submit" class="btn btn-primary" disabled={busy || (!points && !point)}>
              {busy ? 'Starting…' : 'Restore as a new instance'}
            </button>
          )}
        </div>
      </form>
    </Dialog>
  );
}
