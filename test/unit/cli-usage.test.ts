// `tollgate usage` and the demo's closing summary print amounts one under another: one precision
// for the whole column (the nano-dollar when any amount needs it), and calls counted in English.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { usage } from '../../src/cli/commands/usage.js';
import { usdColumn } from '../../src/cli/output.js';
import { spendLines } from '../../src/demo/workload.js';

let server: Server;
let url: string;
let lines: { cost_usd: number }[] = [];

beforeAll(async () => {
  server = createServer((_req, res) => {
    const data = lines.map((l, i) => ({ created_at: `2026-01-01T00:00:0${i}Z`, session_id: 'ses_1', agent_id: 'agt_1', model: 'gpt-4o-mini', stream: false, input_tokens: 10, output_tokens: 5, estimated: false, outcome: 'ok', ...l }));
    res.setHeader('content-type', 'application/json').end(JSON.stringify({ object: 'list', data }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => void server.close());

async function printed(costs: number[]): Promise<string[]> {
  lines = costs.map((cost_usd) => ({ cost_usd }));
  const out: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (out.push(String(chunk)), true));
  try {
    await usage({ url, adminToken: 'tga_test' });
  } finally {
    write.mockRestore();
  }
  return out.join('').trimEnd().split('\n');
}

describe('tollgate usage', () => {
  it('prints every cost of the table at one precision: the nano-dollar when one of them is under a micro-dollar', async () => {
    const costs = (rows: string[]) => rows.slice(1).map((r) => /\$\S+/.exec(r)![0]);
    expect(costs(await printed([0.00015, 0.00000008, 0.0123456789, 0]))).toEqual(['$0.000150000', '$0.000000080', '$0.012345679', '$0.000000000']);
    expect(costs(await printed([0.00015, 0.0123456789, 0]))).toEqual(['$0.000150', '$0.012346', '$0.000000']);
    // So the column lines up: every row the same width up to the outcome.
    const rows = await printed([0.00015, 0.00000008]);
    expect(rows.slice(1).map((r) => r.indexOf(' ok'))).toEqual([rows[1]!.indexOf(' ok'), rows[1]!.indexOf(' ok')]);
  });
});

describe('usdColumn', () => {
  it('formats like usd, at the precision the smallest amount needs', () => {
    expect(usdColumn([1.5, 0.000123])(1.5)).toBe('$1.500000');
    expect(usdColumn([1.5, 0.00000008])(1.5)).toBe('$1.500000000');
    expect(usdColumn([0, null])(0)).toBe('$0.000000');
    expect(usdColumn([0.00000008])(null)).toBe('-');
  });
});

describe('the demo summary', () => {
  it('counts one call as a call, and prints the amounts at one precision', () => {
    const names = new Map([['agt_1', 'planner'], ['agt_2', 'coder-1']]);
    expect(spendLines([{ key: 'agt_1', usd: 0.0021, requests: 12 }, { key: 'agt_2', usd: 0.00000009, requests: 1 }, { key: 'agt_3', usd: 0.0004, requests: 0 }], names)).toEqual([
      '  planner        $0.002100000  12 calls',
      '  coder-1        $0.000000090  1 call',
      '  agt_3          $0.000400000  0 calls',
    ]);
    expect(spendLines([{ key: 'agt_1', usd: 0.0021, requests: 1 }], names)).toEqual(['  planner        $0.002100  1 call']);
  });
});
