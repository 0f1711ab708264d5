// Small building blocks shared by the pages. All data is rendered as text nodes.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { Amounts } from '../api';
import { num, text, usd } from '../format';

export function Page({ title, subtitle, actions, children }: { title: string; subtitle?: ComponentChildren; actions?: ComponentChildren; children: ComponentChildren }) {
  return (
    <section class="page">
      <header class="page-head">
        <div>
          <h1>{title}</h1>
          {subtitle && <p class="muted">{subtitle}</p>}
        </div>
        {actions && <div class="page-actions">{actions}</div>}
      </header>
      {children}
    </section>
  );
}

export function Card({ title, children, class: cls = '', right }: { title?: ComponentChildren; children: ComponentChildren; class?: string; right?: ComponentChildren }) {
  return (
    <div class={`card ${cls}`}>
      {(title || right) && (
        <div class="card-head">
          <h2>{title}</h2>
          {right}
        </div>
      )}
      {children}
    </div>
  );
}

export function Stat({ label, value, hint, tone }: { label: string; value: ComponentChildren; hint?: ComponentChildren; tone?: 'warn' | 'bad' | 'good' }) {
  return (
    <div class={`stat ${tone ?? ''}`}>
      <div class="stat-label">{label}</div>
      <div class="stat-value">{value}</div>
      {hint && <div class="stat-hint">{hint}</div>}
    </div>
  );
}

const TONES: Record<string, string> = {
  active: 'good', open: 'bad', pending: 'warn', approved: 'good', denied: 'bad', suspended: 'warn', revoked: 'bad', closed: 'neutral', expired: 'neutral',
  acknowledged: 'warn', resolved: 'good', critical: 'bad', warning: 'warn', info: 'info', ok: 'good', broken: 'bad',
};

export const Badge = ({ value }: { value: string }) => <span class={`badge ${TONES[value] ?? 'neutral'}`}>{value}</span>;

export function ErrorNote({ error }: { error: Error | undefined }) {
  if (!error) return null;
  return <p class="error" role="alert">{error.message}</p>;
}

export const Empty = ({ children }: { children: ComponentChildren }) => <p class="empty">{children}</p>;

export const Loading = () => <p class="muted loading">Loading…</p>;

/** A table that scrolls sideways on a narrow screen instead of squeezing its columns. */
export const Table = ({ children, label }: { children: ComponentChildren; label: string }) => (
  <div class="table-wrap">
    <table aria-label={label}>{children}</table>
  </div>
);

/** Any JSON object as a key/value table; nested objects as nested tables. */
export function KeyValue({ value, label }: { value: unknown; label: string }) {
  if (value === null || typeof value !== 'object') return <span class="kv-leaf">{text(value)}</span>;
  const entries: (readonly [string, unknown])[] = Array.isArray(value) ? (value as unknown[]).map((v, i) => [String(i), v] as const) : Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return <span class="muted">{Array.isArray(value) ? '[]' : '{}'}</span>;
  return (
    <table class="kv" aria-label={label}>
      <tbody>
        {entries.map(([k, v]) => (
          <tr key={k}>
            <th scope="row">{k}</th>
            <td>{v !== null && typeof v === 'object' ? <KeyValue value={v} label={`${label}.${k}`} /> : <span class="kv-leaf">{text(v)}</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * A budget as one bar: spent, reserved (calls in flight, children's slices) and what is left.
 * USD when the budget has a USD limit, tokens otherwise. An `ended` session (closed, revoked,
 * expired) has nothing left to spend: its bar says what it spent of what it had.
 */
export function BudgetBar({ budget, spent, reserved, compact = false, ended = false }: { budget: Amounts; spent: Amounts; reserved?: Amounts | undefined; compact?: boolean; ended?: boolean }) {
  const unit = budget.usd !== null ? 'usd' : budget.tokens !== null ? 'tokens' : null;
  if (unit === null) return <span class="muted">no limit · {usd(spent.usd)} spent</span>;
  const limit = budget[unit] ?? 0;
  const s = Math.max(0, spent[unit] ?? 0);
  const r = Math.max(0, reserved?.[unit] ?? 0);
  const pct = (v: number) => (limit > 0 ? Math.min(100, (v / limit) * 100) : 100);
  const fmt = unit === 'usd' ? usd : (v: number) => `${num(v)} tok`;
  const left = Math.max(0, limit - s - r);
  const used = pct(s + r);
  return (
    <div class={`budget ${compact ? 'compact' : ''}`} title={ended ? `${fmt(s)} spent of ${fmt(limit)}; ended` : `${fmt(s)} spent, ${fmt(r)} reserved, ${fmt(left)} remaining of ${fmt(limit)}`}>
      <div class={`bar ${used >= 90 ? 'hot' : used >= 70 ? 'warm' : ''}`} role="meter" aria-valuemin={0} aria-valuemax={limit} aria-valuenow={s + r} aria-label="budget used">
        <span class="spent" style={{ width: `${pct(s)}%` }} />
        <span class="reserved" style={{ width: `${Math.min(pct(r), 100 - pct(s))}%` }} />
      </div>
      <div class="budget-legend">
        <span><i class="dot spent" />{fmt(s)} spent</span>
        {!ended && r > 0 && <span><i class="dot reserved" />{fmt(r)} reserved</span>}
        {ended ? <span class="muted">of {fmt(limit)} · ended</span> : <span><i class="dot left" />{fmt(left)} left of {fmt(limit)}</span>}
      </div>
    </div>
  );
}

/**
 * A button that asks before it acts: the first click shows a reason field and a confirm button.
 * `onConfirm` returns a promise; its failure is shown beside the button.
 */
export function ConfirmButton({ label, confirmLabel, tone = 'danger', onConfirm, withReason = true }: { label: string; confirmLabel?: string; tone?: 'danger' | 'primary' | 'plain'; onConfirm: (reason: string) => Promise<unknown>; withReason?: boolean }) {
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!open) return <button type="button" class={`btn ${tone}`} onClick={() => setOpen(true)}>{label}</button>;
  const go = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm(reason.trim());
      setOpen(false);
      setReason('');
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="confirm">
      {withReason && <input type="text" placeholder="Reason (optional)" maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} aria-label={`${label}: reason`} />}
      <button type="button" class={`btn ${tone}`} disabled={busy} onClick={() => void go()}>{confirmLabel ?? `Confirm ${label.toLowerCase()}`}</button>
      <button type="button" class="btn plain" disabled={busy} onClick={() => setOpen(false)}>Cancel</button>
      {error && <span class="error" role="alert">{error}</span>}
    </span>
  );
}

export function Segmented<T extends string>({ value, options, onChange, label }: { value: T; options: readonly (readonly [T, string])[]; onChange: (v: T) => void; label: string }) {
  return (
    <div class="segmented" role="group" aria-label={label}>
      {options.map(([v, text]) => (
        <button type="button" key={v} class={v === value ? 'on' : ''} aria-pressed={v === value} onClick={() => onChange(v)}>{text}</button>
      ))}
    </div>
  );
}
