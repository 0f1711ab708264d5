// Numbers and times as people read them. Every value reaches the page as text (never as HTML).

export function usd(v: number | null | undefined): string {
  if (v === null || v === undefined) return '—';
  if (v === 0) return '$0';
  const abs = Math.abs(v);
  if (abs >= 100) return `$${v.toLocaleString('en-US', { maximumFractionDigits: 0 })}`;
  if (abs >= 1) return `$${v.toFixed(2)}`;
  // Agents' calls cost fractions of a cent: three significant digits, at least two decimals
  // ($0.50, $0.0102, $0.000301).
  // (toFixed, not toPrecision: that turns exponential below 1e-6; nine decimals is the nano-USD.)
  const decimals = Math.min(9, Math.max(2, 2 - Math.floor(Math.log10(abs))));
  const [int, frac = ''] = v.toFixed(decimals).split('.');
  return `$${int}.${frac.replace(/0+$/, '').padEnd(2, '0')}`;
}

export function num(v: number | null | undefined): string {
  if (v === null || v === undefined) return '—';
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (Math.abs(v) >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  return v.toLocaleString('en-US', { maximumFractionDigits: 1 });
}

export function time(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** "3 min ago", "in 2 h". */
export function relative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const diff = Date.parse(iso) - now;
  const abs = Math.abs(diff);
  if (abs < 5000) return 'just now';
  const [n, unit] = abs < 60_000 ? [Math.round(abs / 1000), 's'] : abs < 3_600_000 ? [Math.round(abs / 60_000), 'min'] : abs < 86_400_000 ? [Math.round(abs / 3_600_000), 'h'] : [Math.round(abs / 86_400_000), 'd'];
  return diff < 0 ? `${n} ${unit} ago` : `in ${n} ${unit}`;
}

export const shortId = (id: string | null | undefined) => (id ? (id.length > 14 ? `${id.slice(0, 12)}…` : id) : '—');

/** Any JSON value as one line of text. */
export function text(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** "1 call", "3 calls". */
export const plural = (n: number, one: string, many = `${one}s`) => `${num(n)} ${n === 1 ? one : many}`;

/** A session that has nothing left to spend: closed, revoked or expired (not active, not suspended). */
export const ended = (status: string) => status !== 'active' && status !== 'suspended';
