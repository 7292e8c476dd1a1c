// The "point in time" of a restore: the latest archived state, or a time the
// person types in the zone they chose (UTC or their own), kept inside the
// recoverable window with a message that says why not.

import { duration } from '../format';
import { inputValue, outsideWindow, parseInputTime, rfc3339, windowOf, zoneLabel, zonedText, type Zone } from '../pitr';
import type { Pitr } from '../types';

export interface PitrState {
  latest: boolean;
  /** The input's value, read in `zone`. */
  text: string;
  zone: Zone;
}

export function initialPitrState(p: Pitr): PitrState {
  return { latest: true, text: inputValue(windowOf(p).end, 'local'), zone: 'local' };
}

/** What the state asks for: the API's `at`, or why it cannot be asked for. */
export function pitrTarget(s: PitrState, p: Pitr): { at: string | null; when: Date | null; error: string | null } {
  if (s.latest) return { at: 'latest', when: null, error: null };
  const d = parseInputTime(s.text, s.zone);
  if (!d) return { at: null, when: null, error: s.text.trim() ? `“${s.text}” is not a time in ${zoneLabel(s.zone)}.` : 'Enter a date and a time.' };
  const out = outsideWindow(d, p, s.zone);
  return out ? { at: null, when: d, error: out } : { at: rfc3339(d), when: d, error: null };
}

/** The chosen target in words: "the latest archived state", "the state at 2026-12-06 10:15:00 UTC". */
export function pitrTargetText(s: PitrState, p: Pitr): string {
  const t = pitrTarget(s, p);
  return t.when && !t.error ? `the state at ${zonedText(t.when, 'utc')}` : 'the latest archived state';
}

export function PitrChoice({ pitr, state, onChange }: { pitr: Pitr; state: PitrState; onChange: (s: PitrState) => void }) {
  const w = windowOf(pitr);
  const target = pitrTarget(state, pitr);
  const setZone = (zone: Zone) => {
    // the same instant, written in the other zone
    const d = parseInputTime(state.text, state.zone);
    onChange({ ...state, zone, text: d ? inputValue(d, zone) : state.text });
  };
  const invalid = !state.latest && target.error !== null;
  return (
    <fieldset class="pitr-choice" data-testid="pitr-choice">
      <legend>Point in time</legend>
      <label class="radio">
        <input type="radio" name="pitr-kind" checked={state.latest} onChange={() => onChange({ ...state, latest: true })} />
        <span>
          <strong>Latest</strong>: everything archived, up to {zonedText(w.end, state.zone)} (archive lag {duration(pitr.lag_s)})
        </span>
      </label>
      <label class="radio">
        <input type="radio" name="pitr-kind" checked={!state.latest} onChange={() => onChange({ ...state, latest: false })} />
        <span>
          <strong>A time</strong> inside the recoverable window
        </span>
      </label>
      {!state.latest && (
        <div class="pitr-time">
          <fieldset class="seg">
            <legend class="sr-only">Time zone of the time</legend>
            <label class={state.zone === 'local' ? 'seg-on' : ''}>
              <input type="radio" name="pitr-zone" checked={state.zone === 'local'} onChange={() => setZone('local')} /> {zoneLabel('local', target.when ?? w.end)}
            </label>
            <label class={state.zone === 'utc' ? 'seg-on' : ''}>
              <input type="radio" name="pitr-zone" checked={state.zone === 'utc'} onChange={() => setZone('utc')} /> UTC
            </label>
          </fieldset>
          <div class="field">
            <label for="restore-at">Time ({zoneLabel(state.zone, target.when ?? w.end)})</label>
            <input
              id="restore-at"
              type="datetime-local"
              step={1}
              min={inputValue(w.start, state.zone)}
              max={inputValue(w.end, state.zone)}
              value={state.text}
              onInput={(e) => onChange({ ...state, text: (e.target as HTMLInputElement).value })}
              aria-invalid={invalid ? true : undefined}
              aria-describedby={invalid ? 'restore-at-window restore-at-error' : 'restore-at-window restore-at-means'}
            />
            <p class="hint" id="restore-at-window" data-testid="pitr-window-hint">
              Recoverable from {zonedText(w.start, state.zone)} to {zonedText(w.end, state.zone)}.
            </p>
            {invalid ? (
              <p class="form-error" id="restore-at-error" role="alert" data-testid="pitr-error">
                {target.error}
              </p>
            ) : (
              target.when && (
                <p class="hint" id="restore-at-means" data-testid="pitr-means">
                  Replays the archive up to {zonedText(target.when, 'utc')}
                  {state.zone === 'local' ? <> ({zonedText(target.when, 'local')})</> : null}, inclusive.
                </p>
              )
            )}
          </div>
        </div>
      )}
    </fieldset>
  );
}
