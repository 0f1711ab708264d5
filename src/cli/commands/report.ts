// `tollgate report spend`: the chargeback report (GET /admin/v1/reports/spend) as a table, and
// optionally written as CSV (the same columns the API's format=csv answers).
import { writeFileSync } from 'node:fs';
import { spendCsv, type SpendReport } from '../../server/admin-reports.js';
import { AdminClient, CliError, query } from '../client.js';
import { output, printTable, usdColumn } from '../output.js';

export async function spend(opts: Record<string, unknown>): Promise<void> {
  const groupBy = typeof opts.groupBy === 'string' ? opts.groupBy : 'team';
  const report = await new AdminClient(opts).get<SpendReport>(`/admin/v1/reports/spend${query({ group_by: groupBy, since: opts.since, until: opts.until })}`, {
    group_by: '--group-by', since: '--since', until: '--until',
  });
  if (typeof opts.csv === 'string') {
    if (opts.csv === '') throw new CliError('--csv needs a file name');
    writeFileSync(opts.csv, spendCsv(report));
  }
  output(opts, report, () => {
    const team = report.group_by === 'team';
    const named = ['team', 'agent', 'profile'].includes(report.group_by);
    // One precision for the whole column, the total included.
    const usd = usdColumn([...report.rows.map((r) => r.usd), report.total.usd]);
    const rows = report.rows.map((r) => ({
      [report.group_by]: named ? r.name ?? r.key : r.key ?? '(none)',
      ...(team ? { 'executed by': r.executing_team === r.key ? '' : r.executing_team_name ?? r.executing_team } : {}),
      usd: usd(r.usd), input: r.input_tokens, output: r.output_tokens, requests: r.requests,
    }));
    rows.push({ [report.group_by]: 'TOTAL', ...(team ? { 'executed by': '' } : {}), usd: usd(report.total.usd), input: report.total.input_tokens, output: report.total.output_tokens, requests: report.total.requests });
    const range = `${report.since ?? 'the beginning'} to ${report.until ?? 'now'}`;
    process.stdout.write(`spend by ${report.group_by}, ${range}\n`);
    printTable(rows, [report.group_by, ...(team ? ['executed by'] : []), 'usd', 'input', 'output', 'requests']);
    if (typeof opts.csv === 'string') process.stdout.write(`CSV written to ${opts.csv}\n`);
  });
}
