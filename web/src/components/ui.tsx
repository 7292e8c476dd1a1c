import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { localTime, utcTime, age, relative } from '../format';
import type { HealthState } from '../types';

/** A time in the browser's zone, the UTC time on hover (title). */
export function Time({ iso, seconds, rel, ageOnly }: { iso: string | null | undefined; seconds?: boolean; rel?: boolean; ageOnly?: boolean }) {
  if (!iso) return <span class="muted">—</span>;
  const text = ageOnly ? age(iso) : rel ? relative(iso) : localTime(iso, seconds);
  const full = localTime(iso, true);
  return (
    <time dateTime={iso} title={ageOnly || rel ? `${full} (${utcTime(iso)})` : utcTime(iso)}>
      {text}
    </time>
  );
}

type Tone = 'ok' | 'bad' | 'warn' | 'info' | 'muted';

/** A status word with a sign (✓ ✗ ! ● –, drawn by CSS) so that no state relies on colour alone. */
export function Badge({ tone, children, title }: { tone: Tone; children: ComponentChildren; title?: string }) {
  return (
    <span class={`badge badge-${tone}`} title={title}>
      {children}
    </span>
  );
}

const STATUS_TONE: Record<string, Tone> = {
  succeeded: 'ok',
  complete: 'ok',
  passed: 'ok',
  ok: 'ok',
  healthy: 'ok',
  running: 'info',
  queued: 'muted',
  partial: 'warn',
  incomplete: 'warn',
  cancelled: 'muted',
  interrupted: 'warn',
  stale: 'warn',
  unknown: 'muted',
  warning: 'warn',
  failed: 'bad',
  failing: 'bad',
  damaged: 'bad',
  critical: 'bad',
};

export function toneOf(status: string | null | undefined): Tone {
  return (status && STATUS_TONE[status]) || 'muted';
}

export function Status({ status, title }: { status: string | null | undefined; title?: string }) {
  if (!status) return <span class="muted">—</span>;
  return (
    <Badge tone={toneOf(status)} title={title}>
      {status}
    </Badge>
  );
}

export function HealthBadge({ state }: { state: HealthState }) {
  return <Status status={state} />;
}

const CHECK_WORDS: Record<string, [string, string]> = {
  recent: ['recent', 'not recent'],
  complete: ['complete', 'incomplete'],
  verified: ['verified', 'not verified'],
};

/**
 * One of the three health checks: recent / complete / verified. The word says
 * the state ("not recent"), the sign is drawn by CSS; `soft`: a failed check is
 * a warning, not a failure.
 */
/** One health check in words with a sign; `pending` (a service not backed up yet) shows a failed check muted, not as an error. */
export function Check({ label, ok, detail, soft, pending }: { label: string; ok: boolean; detail: string; soft?: boolean; pending?: boolean }) {
  const cls = ok ? 'check-ok' : pending ? 'check-none' : soft ? 'check-warn' : 'check-bad';
  const words = CHECK_WORDS[label.toLowerCase()] ?? [label, `not ${label}`];
  let text = ok ? words[0] : words[1];
  if (label[0] !== label[0].toLowerCase()) text = text[0].toUpperCase() + text.slice(1);
  return (
    <span class={`check ${cls}`} title={detail}>
      {text}
    </span>
  );
}

export function ErrorBox({ error, children }: { error: string | null | undefined; children?: ComponentChildren }) {
  if (!error) return null;
  return (
    <div class="error-box" role="alert">
      <strong>Error:</strong> {error}
      {children}
    </div>
  );
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p class="muted" role="status">
      {what}…
    </p>
  );
}

// Set by in-app navigation and by signing in; a fresh page load leaves focus
// alone so that the first Tab reaches the skip link.
let focusNextTitle = false;
export function focusTitleOnNextPage() {
  focusNextTitle = true;
}
if (typeof window !== 'undefined') window.addEventListener('hashchange', focusTitleOnNextPage);

/** The page's h1; takes focus after navigation so screen readers announce the new page. */
export function PageTitle({ children, sub }: { children: ComponentChildren; sub?: ComponentChildren }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (!focusNextTitle) return;
    focusNextTitle = false;
    const a = document.activeElement;
    // not while the user is typing in a field or working in a dialog
    if (a && a !== document.body && (a.closest('dialog') || /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName))) return;
    ref.current?.focus({ preventScroll: true });
  }, []);
  return (
    <div class="page-title">
      <h1 tabIndex={-1} ref={ref}>
        {children}
      </h1>
      {sub}
    </div>
  );
}

async function copyText(text: string, fallbackEl: HTMLElement | null): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    /* fall back below */
  }
  if (!fallbackEl) return false;
  const range = document.createRange();
  range.selectNodeContents(fallbackEl);
  const sel = window.getSelection();
  sel?.removeAllRanges();
  sel?.addRange(range);
  try {
    return document.execCommand('copy');
  } catch {
    return false;
  }
}

/** Preformatted text with a Copy button (connection info, commands). */
export function CopyBlock({ text, label, testid }: { text: string; label: string; testid?: string }) {
  const pre = useRef<HTMLPreElement>(null);
  const [msg, setMsg] = useState('');
  return (
    <div class="copy-block">
      <pre ref={pre} data-testid={testid} tabIndex={0} aria-label={label}>
        {text}
      </pre>
      <div class="copy-row">
        <button
          type="button"
          class="btn btn-small"
          onClick={async () => setMsg((await copyText(text, pre.current)) ? 'Copied to the clipboard.' : 'Selected: press Ctrl+C to copy.')}
        >
          Copy {label.toLowerCase()}
        </button>
        <span role="status" class="muted small">
          {msg}
        </span>
      </div>
    </div>
  );
}

/** A modal dialog on the native <dialog>: focus is kept inside, Escape closes, focus returns to the opener. */
export function Dialog({
  title,
  onClose,
  children,
  wide,
  testid,
}: {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  wide?: boolean;
  testid?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const opener = useRef<Element | null>(null);
  useEffect(() => {
    opener.current = document.activeElement;
    const d = ref.current!;
    if (!d.open) d.showModal();
    const first = d.querySelector<HTMLElement>('[autofocus], input:not([type=hidden]):not([disabled]), select, textarea, button:not(.dialog-close)');
    first?.focus();
    return () => {
      if (d.open) d.close();
      const o = opener.current as HTMLElement | null;
      const back = () => {
        const a = document.activeElement;
        if (o && o.isConnected && (!a || a === document.body || d.contains(a))) o.focus();
      };
      back();
      // Focus can still fall to <body> when the browser removes the closed
      // dialog after this cleanup (seen against the real daemon, 1 run in 3):
      // give it back once more after that, and again after the next frame.
      window.setTimeout(back, 0);
      requestAnimationFrame(() => window.setTimeout(back, 0));
    };
  }, []);
  const onCancel = (e: Event) => {
    e.preventDefault();
    onClose();
  };
  // A modal <dialog> makes the page inert, but Tab can still leave it for the
  // browser's own controls; keep it cycling inside.
  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'Escape') {
      // Handled here rather than left to the native `cancel`, which Chrome
      // may turn into a plain close without asking (no user activation).
      e.preventDefault();
      onClose();
      return;
    }
    if (e.key !== 'Tab') return;
    const d = ref.current!;
    const items = Array.from(
      d.querySelectorAll<HTMLElement>('a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])'),
    ).filter((el) => el.offsetParent !== null || el === document.activeElement);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    const active = document.activeElement;
    if (e.shiftKey && (active === first || !d.contains(active))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (active === last || !d.contains(active))) {
      e.preventDefault();
      first.focus();
    }
  };
  return (
    <dialog ref={ref} class={wide ? 'dialog dialog-wide' : 'dialog'} aria-labelledby="dialog-title" onCancel={onCancel} onKeyDown={onKeyDown} data-testid={testid}>
      <div class="dialog-head">
        <h2 id="dialog-title">{title}</h2>
        <button type="button" class="dialog-close btn-icon" aria-label="Close" onClick={onClose}>
          ×
        </button>
      </div>
      <div class="dialog-body">{children}</div>
    </dialog>
  );
}

export function Field({ label, children, hint, id }: { label: string; children: JSX.Element; hint?: string; id: string }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children}
      {hint && (
        <p class="hint" id={id + '-hint'}>
          {hint}
        </p>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}
