import { useEffect, useState } from 'preact/hooks';
import { api, enc, errorText } from '../api';
import { useApp } from '../app';
import { bytes, localTime, shortId, utcTime } from '../format';
import type { Point, PointsPage, ServiceDetail } from '../types';
import { JobPanel } from './JobView';
import { PitrChoice, initialPitrState, pitrTarget, pitrTargetText, type PitrState } from './PitrChoice';
import { Dialog, ErrorBox } from './ui';

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

type Source = 'point' | 'time';

/**
 * Restore: choose a point, or (for a service with continuous archiving) a
 * point in time; then a mode. An overwrite names what it replaces and needs
 * the service name typed.
 */
export function RestoreDialog({ service, point, atTime, onClose }: { service: ServiceDetail; point: Point | null; atTime?: boolean; onClose: () => void }) {
  const app = useApp();
  const canOverwrite = app.can('admin');
  const pitr = service.pitr;
  const [source, setSource] = useState<Source>(atTime && pitr ? 'time' : 'point');
  const [pitrChoice, setPitrState] = useState<PitrState | null>(null);
  const [points, setPoints] = useState<Point[] | null>(point ? [point] : null);
  const [pointId, setPointId] = useState<string>(point ? point.id : 'latest');
  const [mode, setMode] = useState<'new-instance' | 'overwrite'>('new-instance');
  const [asName, setAsName] = useState('');
  const [port, setPort] = useState('');
  const [target, setTarget] = useState('');
  const [confirm, setConfirm] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [started, setStarted] = useState<{ job: number; from: string } | null>(null);

  // Without a preselected point, offer the newest page of points.
  useEffect(() => {
    if (point) return;
    api
      .get<PointsPage>(`/services/${enc(service.name)}/backups?limit=50`)
      .then((r) => setPoints(r.points))
      .catch((e) => setError(errorText(e)));
  }, []);

  // (the window can arrive with a reload of the service while the dialog is open)
  const pitrState = pitrChoice ?? (pitr ? initialPitrState(pitr) : null);
  const byTime = source === 'time' && pitr !== null && pitrState !== null;
  const timeTarget = byTime ? pitrTarget(pitrState, pitr) : null;
  const chosen = byTime ? null : (points?.find((p) => p.id === pointId) ?? null);
  const confirmed = confirm === service.name;
  const replaces = replacedThings(service, chosen);
  const targets = chosen ? chosen.targets : service.targets;
  const fromText = byTime
    ? pitrTargetText(pitrState, pitr)
    : chosen
      ? `point ${shortId(chosen.id)} from ${localTime(chosen.time)} (${utcTime(chosen.time)})`
      : 'the newest complete point';

  const submit = async (e: Event) => {
    e.preventDefault();
    if (timeTarget?.error) {
      setError(timeTarget.error);
      return;
    }
    if (mode === 'overwrite' && !confirmed) {
      setError(`Type ${service.name} to confirm the overwrite.`);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const body = {
        point: byTime ? null : pointId,
        mode,
        confirm: mode === 'overwrite' ? confirm : null,
        target: target || null,
        as: mode === 'new-instance' && asName ? asName : null,
        port: mode === 'new-instance' && port ? Number(port) : null,
        at: timeTarget ? timeTarget.at : null,
      };
      const r = await api.post<{ job_id: number }>(`/services/${enc(service.name)}/restores`, body);
      setStarted({ job: r.job_id, from: fromText });
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  if (started !== null) {
    return (
      <Dialog title={`Restore of ${service.name}`} onClose={onClose} wide testid="restore-dialog">
        <p data-testid="restore-from">
          {mode === 'overwrite' ? 'Overwriting' : 'Restoring as a new instance'} from {started.from}.
        </p>
        <JobPanel id={started.job} title={`Restore job ${started.job}`} inDialog />
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={onClose}>
            Close
          </button>
        </div>
      </Dialog>
    );
  }

  const isServer = SERVER_TYPES.has(service.type);
  const timeBlocked = timeTarget !== null && timeTarget.error !== null;
  return (
    <Dialog title={`Restore ${service.name}`} onClose={onClose} wide testid="restore-dialog">
      <form onSubmit={submit} noValidate>
        {pitr && (
          <fieldset>
            <legend>Restore from</legend>
            <label class="radio">
              <input type="radio" name="source" value="point" checked={source === 'point'} onChange={() => setSource('point')} />
              <span>
                <strong>A backup</strong>: one of the points in the history
              </span>
            </label>
            <label class="radio">
              <input type="radio" name="source" value="time" checked={source === 'time'} onChange={() => setSource('time')} />
              <span>
                <strong>A point in time</strong>: a base backup with the archived changes replayed up to that moment
              </span>
            </label>
          </fieldset>
        )}
        {!byTime && (
          <div class="field">
            <label for="restore-point">Restore point</label>
            <select id="restore-point" value={pointId} onChange={(e) => setPointId((e.target as HTMLSelectElement).value)}>
              {!point && <option value="latest">The newest complete point (latest)</option>}
              {(points ?? []).map((p) => (
                <option key={p.id} value={p.id}>
                  {pointLabel(p)}
                </option>
              ))}
            </select>
          </div>
        )}
        {byTime && <PitrChoice pitr={pitr} state={pitrState} onChange={setPitrState} />}
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
            <p>with {byTime ? fromText : `the data of ${fromText}`}.</p>
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
            <button type="submit" class="btn btn-danger" disabled={busy || !confirmed || timeBlocked}>
              {busy ? 'Starting…' : `Overwrite ${service.name}`}
            </button>
          ) : (
            <button type="submit" class="btn btn-primary" disabled={busy || timeBlocked || (!byTime && !points && !point)}>
              {busy ? 'Starting…' : 'Restore as a new instance'}
            </button>
          )}
        </div>
      </form>
    </Dialog>
  );
}
