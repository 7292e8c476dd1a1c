import { useState } from 'preact/hooks';
import { api, enc, errorText } from '../api';
import type { ServiceDetail } from '../types';
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
