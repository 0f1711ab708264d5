// `tollgate review`: the access review (GET /admin/v1/access-review) as a findings table, the
// changes since the last sign-off, optionally written as CSV; `--apply` carries out the automatic
// remedies (revoke, suspend) and `--sign-off` records the operator's sign-off.
import { writeFileSync } from 'node:fs';
import type { AccessReview } from '../../access/index.js';
import { reviewCsv } from '../../server/admin-review.js';
import { AdminClient, CliError, number, query } from '../client.js';
import { output, printFields, printTable, text } from '../output.js';

interface Applied { finding: string; action: string; ok: boolean; error?: string }
interface ApplyAnswer { applied: Applied[]; skipped: { finding: string; action: string; reason: string }[] }
interface SignOff { id: string; signed_at: string; signed_by: string; accepted: string[]; remediated: string[] }

const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** What --rows may be: one CSV line per agent or per finding. */
const ROWS = ['agents', 'findings'] as const;
const isRows = (v: unknown): v is (typeof ROWS)[number] => ROWS.some((r) => r === v);

/** The options behind the fields of the review's query and bodies, for errors about them. */
const FLAGS = {
  window_days: '--window-days', unused_days: '--unused-days', findings: '--finding', min_severity: '--min-severity', accepted: '--accept', note: '--note', reason: '--reason',
};

function printReview(r: AccessReview): void {
  process.stdout.write(`access review ${r.generated_at}: window ${r.window.days} days, unused after ${r.unused_days} days; ${r.summary.agents} agents, ${r.summary.credentials} secrets\n`);
  printTable(
    r.findings.map((f) => ({
      severity: f.severity, finding: f.id, owasp: f.owasp, summary: f.summary,
      remedy: `${f.remedy.action}${f.remedy.automatic ? '' : ' (suggested)'}`, accepted: f.accepted ? `by ${f.accepted.by}` : '',
    })),
    ['severity', 'finding', 'owasp', 'summary', 'remedy', 'accepted'],
  );
  for (const f of r.findings) if (f.remedy.diff) process.stdout.write(`\n${f.id}: suggested profile\n${f.remedy.diff}\n`);
  if (r.last_sign_off && r.changes_since_last) {
    const c = r.changes_since_last;
    process.stdout.write(`\nsince the sign-off of ${r.last_sign_off.signed_at} by ${r.last_sign_off.operator?.name ?? r.last_sign_off.signed_by}: ${c.new.length} new, ${c.resolved.length} resolved, ${c.still_open.length} still open\n`);
    for (const id of c.resolved) process.stdout.write(`  resolved  ${id}\n`);
    for (const id of c.new) process.stdout.write(`  new       ${id}\n`);
  }
}

export async function review(opts: Record<string, unknown>): Promise<void> {
  const client = new AdminClient(opts);
  const range = { window_days: number(opts.windowDays, '--window-days'), unused_days: number(opts.unusedDays, '--unused-days') };
  const findings = list(opts.finding);
  if (findings.length > 0 && !opts.apply) throw new CliError('--finding selects what --apply applies: add --apply');
  const rows = opts.rows ?? 'agents';
  if (!isRows(rows)) throw new CliError(`--rows must be ${ROWS.join(' or ')}, not ${text(rows)}`);
  if (opts.rows !== undefined && typeof opts.csv !== 'string') throw new CliError('--rows chooses the lines of the CSV file: add --csv FILE');
  const report = await client.get<AccessReview>(`/admin/v1/access-review${query(range)}`, FLAGS);
  if (typeof opts.csv === 'string') {
    if (opts.csv === '') throw new CliError('--csv needs a file name');
    writeFileSync(opts.csv, reviewCsv(report, rows));
  }
  let applied: ApplyAnswer | null = null;
  if (opts.apply) {
    applied = await client.post<ApplyAnswer>('/admin/v1/access-review/apply', {
      ...range, ...(findings.length > 0 ? { findings } : {}), ...(typeof opts.minSeverity === 'string' ? { min_severity: opts.minSeverity } : {}), reason: opts.reason,
    }, FLAGS);
  }
  let signed: SignOff | null = null;
  if (opts.signOff) {
    signed = await client.post<SignOff>('/admin/v1/access-review/sign-off', {
      ...range, accepted: list(opts.accept), remediated: applied?.applied.filter((a) => a.ok).map((a) => a.finding) ?? [], note: opts.note,
    }, FLAGS);
  }
  output(opts, { review: report, ...(applied ? { applied } : {}), ...(signed ? { sign_off: signed } : {}) }, () => {
    printReview(report);
    if (applied) {
      process.stdout.write('\napplied:\n');
      printTable([...applied.applied.map((a) => ({ finding: a.finding, action: a.action, result: a.ok ? 'done' : `failed: ${a.error}` })), ...applied.skipped.map((s) => ({ finding: s.finding, action: s.action, result: 'skipped: suggestion only' }))], ['finding', 'action', 'result']);
    }
    if (signed) {
      process.stdout.write('\n');
      printFields([['signed off', signed.id], ['by', signed.signed_by], ['at', signed.signed_at], ['accepted', signed.accepted.join(' ') || '-'], ['remediated', signed.remediated.join(' ') || '-']]);
    }
    if (typeof opts.csv === 'string') process.stdout.write(`CSV written to ${opts.csv}\n`);
  });
}
