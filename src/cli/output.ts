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

/** Dollars to the micro-dollar; an amount under one to the nano-dollar, the unit spend is kept in ($0.000000080, not $0.000000). */
export const usd = (v: unknown) => (typeof v === 'number' ? `$${v.toFixed(v !== 0 && Math.abs(v) < 0.000001 ? 9 : 6)}` : '-');
