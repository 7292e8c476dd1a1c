// The service page's card for continuous archiving: the recoverable window
// (from, to, in local time and UTC) and the archive lag.

import { duration, utcTime } from '../format';
import { windowOf } from '../pitr';
import type { Pitr } from '../types';
import { Badge, Time } from './ui';

/** An archive lag above this is shown as behind (the streamer uploads every few seconds). */
const LAG_WARN_S = 300;

export function PitrWindow({ pitr, canRestore, onRestore }: { pitr: Pitr; canRestore: boolean; onRestore: () => void }) {
  const behind = pitr.lag_s > LAG_WARN_S;
  // to the second, as the restore dialog offers it: the first whole second inside, the last one
  const w = windowOf(pitr);
  const from = w.start.toISOString();
  const to = w.end.toISOString();
  return (
    <section aria-labelledby="pitr-h" class="card" data-testid="pitr-window">
      <h2 id="pitr-h">Point-in-time recovery</h2>
      <dl class="dl">
        <dt>From</dt>
        <dd data-testid="pitr-from">
          <Time iso={from} seconds />
          <span class="small muted utc-line">{utcTime(from)}</span>
        </dd>
        <dt>To</dt>
        <dd data-testid="pitr-to">
          <Time iso={to} seconds />
          <span class="small muted utc-line">{utcTime(to)}, the newest archived change</span>
        </dd>
        <dt>Archive lag</dt>
        <dd data-testid="pitr-lag">
          {duration(pitr.lag_s)} {behind && <Badge tone="warn">behind</Badge>}
          <span class="small muted"> (since the newest WAL reached the repository)</span>
        </dd>
      </dl>
      <p class="hint">Any moment in this window can be restored: the base backup before it, with the archived changes replayed up to it.</p>
      {canRestore && (
        <button type="button" class="btn" onClick={onRestore}>
          Restore to a point in time…
        </button>
      )}
    </section>
  );
}
