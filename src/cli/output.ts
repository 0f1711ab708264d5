// Printing for humans (aligned tables, key: value blocks) or for scripts (--json).

/** A value as one line of text. */
export function text(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printTable(rows: Record<string, unknown>[], columns: string[]): void {
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const cell = text;
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write(`${line(columns.map((c) => c.toUpperCase()))}\n`);
  for (const r of rows) process.stdout.write(`${line(columns.map((c) => cell(r[c])))}\n`);
}

export function printFields(fields: [string, unknown][]): void {
  const width = Math.max(...fields.map(([k]) => k.length));
  for (const [k, v] of fields) {
    process.stdout.write(`${`${k}:`.padEnd(width + 2)}${text(v)}\n`);
  }
}

/** Prints `value` as JSON when asked, else with `human`. */
export function output(opts: { json?: boolean }, value: unknown, human: () => void): void {
  if (opts.json) printJson(value);
  else human();
}

/** Under a micro-dollar (and not zero): printed to the nano-dollar, the unit spend is kept in. */
const subMicro = (v: unknown) => typeof v === 'number' && v !== 0 && Math.abs(v) < 0.000001;

/** Dollars to the micro-dollar; an amount under one to the nano-dollar, the unit spend is kept in ($0.000000080, not $0.000000). */
export const usd = (v: unknown) => (typeof v === 'number' ? `$${v.toFixed(subMicro(v) ? 9 : 6)}` : '-');

/**
 * `usd` for amounts printed one under another (a table's column): one precision for all of them —
 * the nano-dollar when any is under a micro-dollar, else the micro-dollar — so they line up.
 */
export function usdColumn(values: Iterable<unknown>): (v: unknown) => string {
  const digits = [...values].some(subMicro) ? 9 : 6;
  return (v) => (typeof v === 'number' ? `$${v.toFixed(digits)}` : '-');
}
