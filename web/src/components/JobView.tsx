import { useEffect, useState } from 'preact/hooks';
import { api, errorText } from '../api';
import { isLive, useEvent } from '../events';
import { bytes, duration, percent, plural, shortId, utcTime } from '../format';
import { href, seg } from '../router';
import type { Job } from '../types';
import { CopyBlock, ErrorBox, Status, Time } from './ui';

export const FINISHED = new Set(['succeeded', 'partial', 'failed', 'cancelled', 'interrupted']);

/** A job kept current by `job` events (and by polling while the event stream is down). */
export function useJob(id: number | null, initial: Job | null = null): { job: Job | null; error: string | null } {
  const [job, setJob] = useState<Job | null>(initial);
  const [error, setError] = useState<string | null>(null);
  useEvent('job', (j: Job) => {
    if (id !== null && j.id === id) setJob(j);
  });
  useEffect(() => {
    if (id === null) return;
    let stop = false;
    let timer = 0;
    const load = async () => {
      try {
        const j = await api.get<Job>(`/jobs/${id}`);
        if (stop) return;
        setJob((old) => (old && FINISHED.has(old.status) && !FINISHED.has(j.status) ? old : j));
        setError(null);
        if (!FINISHED.has(j.status)) timer = window.setTimeout(load, isLive() ? 5000 : 1500);
      } catch (e) {
        if (!stop) setError(errorText(e));
      }
    };
    load();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [id]);
  return { job, error };
}

export function ProgressView({ job }: { job: Job }) {
  const p = job.progress;
  if (job.status === 'queued') {
    return (
      <p class="progress-text" data-testid="job-phase">
        Queued{job.waiting_on ? `: ${job.waiting_on}` : ''}.
      </p>
    );
  }
  if (job.status !== 'running') return null;
  if (!p) {
    // Running, before its first progress report: say so rather than show nothing.
    return (
      <div class="progress" data-testid="job-progress">
        <p class="progress-text">
          <span data-testid="job-phase" class="phase">
            starting
          </span>
        </p>
        <progress max={100} aria-label={`${job.kind} progress`} />
        <p class="progress-nums small">
          <span data-testid="job-percent">working</span>
        </p>
      </div>
    );
  }
  const pct = p.percent ?? (p.bytes_total ? (100 * p.bytes_done) / p.bytes_total : null);
  return (
    <div class="progress" data-testid="job-progress">
      <p class="progress-text">
        <span data-testid="job-phase" class="phase">
          {p.phase}
        </span>
        {p.part && <> · part {p.part}</>}
        {p.target && <> · target {p.target}</>}
      </p>
      <progress max={100} value={pct ?? undefined} aria-label={`${job.kind} progress`}>
        {percent(pct)}
      </progress>
      <p class="progress-nums small">
        <span data-testid="job-percent">{pct !== null ? percent(pct) : 'working'}</span> · {bytes(p.bytes_done)}
        {p.bytes_total ? ` of ${bytes(p.bytes_total)}` : ''}
        {p.files_total ? ` · ${p.files_done} of ${plural(p.files_total, 'file')}` : p.files_done ? ` · ${plural(p.files_done, 'file')}` : ''}
        {p.eta_s !== null && <> · about {duration(p.eta_s)} left</>}
      </p>
    </div>
  );
}

function connectionText(c: Record<string, unknown>): string {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(c)) {
    if (v === null || v === undefined) continue;
    lines.push(`${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  }
  return lines.join('\n');
}

function PointLink({ service, id }: { service: string; id: string }) {
  return (
    <a href={href(`/services/${seg(service)}/points/${seg(id)}`)}>
      <code>{shortId(id)}</code>
    </a>
  );
}

/** What a finished job did: backup targets, restore validation and connection info. */
export function ResultView({ job }: { job: Job }) {
  const r = job.result;
  const overwrite = job.kind === 'restore' && (r?.mode ?? job.params.mode) === 'overwrite';
  const hasConnection = !!r?.connection && Object.keys(r.connection).length > 0;
  // (the daemon's params hold "at": "" for a restore of a point)
  const at = job.kind === 'restore' && typeof job.params.at === 'string' && job.params.at ? job.params.at : null;
  return (
    <div class="result" data-testid="job-result">
      <p class="result-head">
        <Status status={job.status} /> {job.kind} of {job.service ?? 'the repository'}
        {job.duration_s !== null && <> in {duration(job.duration_s)}</>}
        {job.bytes_added ? <>, {bytes(job.bytes_added)} added</> : null}
      </p>
      {job.error &&
        (job.status === 'cancelled' ? (
          <p class="note-muted" data-testid="job-cancelled">
            {job.error}
          </p>
        ) : (
          <ErrorBox error={job.error} />
        ))}
      {r?.summary && <p>{r.summary}</p>}
      {r?.targets && (
        <ul class="plain">
          {Object.entries(r.targets).map(([t, s]) => (
            <li key={t}>
              target <strong>{t}</strong>: <Status status={s.startsWith('stored') ? 'succeeded' : 'failed'} title={s} /> {s}
            </li>
          ))}
        </ul>
      )}
      {at && (
        <p data-testid="recovered-to">
          Point-in-time recovery to {at === 'latest' ? 'the latest archived state' : <Time iso={at} seconds />}
          {at !== 'latest' && <> ({utcTime(at)})</>}
          {r?.point_id && job.service ? (
            <>
              , replayed over base backup <PointLink service={job.service} id={r.point_id} />
            </>
          ) : null}
          .
        </p>
      )}
      {!at && r?.point_id && job.service && (
        <p>
          Restore point <PointLink service={job.service} id={r.point_id} />
        </p>
      )}
      {r?.safety_point_id && (
        <p data-testid="safety-point">
          Safety backup taken first: point <code>{shortId(r.safety_point_id)}</code> holds the data as it was before.
        </p>
      )}
      {r?.validation && (
        <div class={r.validation.ok ? 'validation validation-ok' : 'validation validation-bad'} data-testid="validation">
          <Status status={r.validation.ok ? 'passed' : 'failed'} />{' '}
          {r.validation.ok
            ? r.validation.exact
              ? 'Validation passed: the restored data matches the fingerprint taken at backup time exactly.'
              : r.validation.structure_only?.length
                ? `Validation passed (structure only): ${r.validation.structure_only.join('; ')}.`
                : 'Validation passed (structure-only: the service changed during the capture).'
            : `Validation failed: ${r.validation.differences.length} difference(s).`}
          {!r.validation.ok && r.validation.differences.length > 0 && (
            <ul class="small">
              {r.validation.differences.slice(0, 20).map((d) => (
                <li key={d}>{d}</li>
              ))}
            </ul>
          )}
        </div>
      )}
      {overwrite && job.status === 'succeeded' && (
        <div class="connection" data-testid="overwritten">
          <h3>{job.service ?? 'The service'} now runs on the restored data</h3>
          <p>
            The restored data replaced the data in place: clients connect as before
            {hasConnection ? ', here:' : '.'}
          </p>
          {hasConnection && <CopyBlock text={connectionText(r.connection!)} label="Connection info" testid="connection-text" />}
        </div>
      )}
      {!overwrite && hasConnection && (
        <div class="connection" data-testid="connection">
          <h3>How to connect to the new instance</h3>
          <CopyBlock text={connectionText(r.connection!)} label="Connection info" testid="connection-text" />
        </div>
      )}
      {!overwrite && r?.stop_hint && (
        <div>
          <h3>When you are done with it</h3>
          <CopyBlock text={r.stop_hint} label="Stop command" />
        </div>
      )}
    </div>
  );
}

export function JobPanel({ id, title, inDialog, onDismiss }: { id: number; title?: string; inDialog?: boolean; onDismiss?: () => void }) {
  const { job, error } = useJob(id);
  const H = inDialog ? 'h3' : 'h2';
  const label = title ?? (job ? `${job.kind.charAt(0).toUpperCase() + job.kind.slice(1)} job ${id}${job.service ? ` of ${job.service}` : ''}` : `Job ${id}`);
  return (
    <section class="job-panel" aria-live="polite" aria-busy={job ? !FINISHED.has(job.status) : true} data-testid="job-panel">
      <div class="job-panel-head">
        <H>{label}</H>
        <span class="job-panel-links">
          <a href={href(`/jobs/${id}`)}>log and details of job {id}</a>
          {onDismiss && job && FINISHED.has(job.status) && (
            <button type="button" class="btn btn-small" onClick={onDismiss} aria-label={`Dismiss job ${id}`}>
              Dismiss
            </button>
          )}
        </span>
      </div>
      <ErrorBox error={error} />
      {job && !FINISHED.has(job.status) && <ProgressView job={job} />}
      {job && FINISHED.has(job.status) && <ResultView job={job} />}
    </section>
  );
}
