// `tollgate demo`: the embedded gateway (SQLite, the simulated provider, the built-in notes MCP
// server) with a team, three profiles and several agents, and a minute of realistic traffic made
// with `tollgate/sdk` and the official clients — an orchestrator delegating to sub-agents, MCP
// tool calls with one refused, a support agent stepping up for approval, a coding agent stuck in
// a retry loop that gets contained, steady background work — so that the dashboard, reports and
// alerts fill with real data. Everything it does is an ordinary client call.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type OpenAI from 'openai';
import { parse as parseYaml, stringify } from 'yaml';
import { usdColumn } from '../cli/output.js';
import { defaultConfigText, parseConfig, type Config } from '../config/index.js';
import { Tollgate, toTollgateError } from '../sdk/index.js';

/** The demo's organisation: the default config plus a team, three profiles and five agents. */
export function demoConfig(): Config {
  const base = parseYaml(defaultConfigText()) as { providers: { simulated?: unknown }[]; teams: unknown[]; profiles: unknown[]; agents: unknown[] };
  base.providers[0]!.simulated = { latency_ms: 40, tokens_per_second: 400, default_output_tokens: 48 };
  base.teams.push({ name: 'support', owner: 'support-lead@example.com' }, { name: 'platform', owner: 'platform@example.com' });
  base.profiles.push(
    { name: 'orchestrator', models: ['gpt-4o', 'gpt-4o-mini'], tools: ['notes/list_notes', 'notes/read_note', 'notes/search_notes', 'notes/write_note'], session_budget: { default: { usd: 2 }, max: { usd: 5 } }, mission: { max_fanout: 4, max_delegation_depth: 2 } },
    { name: 'support', models: ['gpt-4o-mini', 'claude-3-5-haiku-latest'], session_budget: { default: { usd: 0.01 }, max: { usd: 1 } }, enforcement: { mode: 'soft', soft_threshold: 0.5, approval_hold_seconds: 0 } },
    { name: 'coder', models: ['gpt-4o', 'o3-mini'], tools: ['notes/*', '!notes/delete_*'], session_budget: { default: { usd: 1 }, max: { usd: 5 } } },
  );
  base.agents.push(
    { name: 'planner', team: 'platform', profile: 'orchestrator', owner: 'platform@example.com', environment: 'prod' },
    { name: 'researcher', team: 'platform', profile: 'orchestrator', owner: 'platform@example.com', environment: 'prod' },
    { name: 'writer', team: 'platform', profile: 'orchestrator', owner: 'platform@example.com', environment: 'prod' },
    { name: 'support-bot', team: 'support', profile: 'support', owner: 'support-lead@example.com', environment: 'prod' },
    { name: 'coder-1', team: 'platform', profile: 'coder', owner: 'dev@example.com', environment: 'dev' },
  );
  return parseConfig(stringify(base), 'demo config');
}

export interface DemoOptions {
  url: string;
  adminToken: string;
  durationMs: number;
  /** Approve the support agent's step-up after this long if no human did (0: never). */
  autoApproveMs: number;
  say: (line: string) => void;
  /** How the printed hints run the CLI against this gateway (default: `npx tollgate`). */
  cli?: string;
}

export async function runDemo(o: DemoOptions): Promise<void> {
  const cli = o.cli ?? 'npx tollgate';
  const admin = async <T = unknown>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(o.url + path, { method, headers: { authorization: `Bearer ${o.adminToken}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return (await res.json()) as T;
  };
  const clients: Record<string, Tollgate> = {};
  for (const agent of ['planner', 'support-bot', 'coder-1', 'demo-agent']) {
    const secret = await admin<{ client_id: string; client_secret: string }>('POST', `/admin/v1/agents/${agent}/secrets`, {});
    clients[agent] = new Tollgate({ baseUrl: o.url, clientId: secret.client_id, clientSecret: secret.client_secret, closeOnExit: false });
  }
  const end = Date.now() + o.durationMs;
  const ask = (openai: OpenAI, model: string, content: string) => openai.chat.completions.create({ model, messages: [{ role: 'user', content }] });
  const note = (err: unknown) => toTollgateError(err)?.code ?? (err as Error).message;

  async function orchestrator() {
    const plan = await clients.planner!.openSession({ task: 'weekly market report', budgetUsd: 2, tags: { cost_center: 'research' } });
    o.say(`orchestrator: planner opened ${plan.id} ($2), delegating to researcher and writer ($0.50 each)`);
    await ask(await plan.openai(), 'gpt-4o', 'Plan a weekly market report in three parts.');
    const [research, write] = await Promise.all([
      plan.delegate({ agent: 'researcher', task: 'collect sources', budgetUsd: 0.5 }),
      plan.delegate({ agent: 'writer', task: 'draft the report', budgetUsd: 0.5, models: ['gpt-4o-mini'] }),
    ]);
    const mcp = new Client({ name: 'demo-researcher', version: '1.0.0' });
    await mcp.connect(await research.mcpTransport('notes'));
    const listed = await mcp.listTools();
    o.say(`researcher: MCP tools in scope: ${listed.tools.map((t) => t.name).join(', ')}`);
    await mcp.callTool({ name: 'search_notes', arguments: { word: 'budget' } });
    await mcp.callTool({ name: 'read_note', arguments: { name: 'todo' } });
    await mcp.callTool({ name: 'delete_note', arguments: { name: 'todo' } }).then(
      () => o.say('researcher: delete_note ran (unexpected)'),
      (err: { code?: number; message?: string }) => o.say(`researcher: delete_note refused by the gateway (${err.code}: out of scope)`),
    );
    await mcp.close();
    for (let i = 0; i < 3; i++) await ask(await research.openai(), 'gpt-4o', `Summarize source ${i + 1} on chip supply.`);
    for (let i = 0; i < 2; i++) await ask(await write.openai(), 'gpt-4o-mini', `Draft section ${i + 1} of the report.`);
    await Promise.all([research.close(), write.close()]);
    await plan.close();
    o.say(`orchestrator: done — see the tree with \`${cli} session tree ${plan.id}\``);
  }

  async function support() {
    const session = await clients['support-bot']!.openSession({ task: 'ticket #4812: refund question' });
    const openai = await session.openai({ maxRetries: 0 });
    for (let i = 0; Date.now() < end; i++) {
      try {
        await ask(openai, 'gpt-4o-mini', `Answer the customer about refund rule ${i}. [[sim:tokens=400]]`);
      } catch (err) {
        const typed = toTollgateError(err);
        if (typed?.code !== 'approval_required') throw err;
        const approval = typed.details.approval_id as string;
        o.say(`support-bot: crossed its soft threshold — waiting for approval ${approval} (approve it in the dashboard or: ${cli} approval approve ${approval} --add-usd 0.05)`);
        const timer = o.autoApproveMs > 0
          ? setTimeout(() => void admin('POST', `/admin/v1/approvals/${approval}/approve`, { extra_budget: { usd: 0.05 }, reason: 'demo: approved automatically' }).then(() => o.say(`demo operator: approved ${approval} (+$0.05)`)), o.autoApproveMs)
          : null;
        const decided = await session.waitForApproval(approval, { timeoutMs: Math.max(1000, end - Date.now()) }).catch(() => null);
        if (timer) clearTimeout(timer);
        o.say(`support-bot: approval ${decided?.status ?? 'still pending'}, ${decided?.status === 'approved' ? 'carrying on' : 'stopping'}`);
        if (decided?.status !== 'approved') return;
      }
      await sleep(1500);
    }
    await session.close();
  }

  async function coder() {
    const session = await clients['coder-1']!.openSession({ task: 'fix the flaky build' });
    const openai = await session.openai({ maxRetries: 0 });
    for (let i = 1; i <= 8; i++) {
      try {
        await ask(openai, 'gpt-4o', 'Run the failing migration again [[sim:error=400]]');
      } catch (err) {
        const code = note(err);
        if (code === 'session_suspended') {
          o.say(`coder-1: attempt ${i} refused — the session was suspended by the retry-loop detector (see \`${cli} alerts\`)`);
          return;
        }
        o.say(`coder-1: attempt ${i} rejected upstream (400), retrying the same prompt unchanged`);
      }
      await sleep(400);
    }
  }

  async function background() {
    const session = await clients['demo-agent']!.openSession({ task: 'inbox triage', budgetUsd: 1, tags: { cost_center: 'ops' } });
    const openai = await session.openai();
    for (let i = 0; Date.now() < end; i++) {
      await ask(openai, i % 3 === 0 ? 'gpt-4o' : 'gpt-4o-mini', `Triage message number ${i} in the shared inbox.`).catch(() => undefined);
      await sleep(700);
    }
    await session.close();
  }

  await Promise.all([orchestrator(), support(), coder(), background()]);
  const report = await admin<{ rows: { key: string; usd: number; requests: number }[] }>('GET', '/admin/v1/reports/spend?group_by=agent');
  const names = new Map((await admin<{ data: { id: string; name: string }[] }>('GET', '/admin/v1/agents')).data.map((a) => [a.id, a.name]));
  o.say('spend by agent:');
  for (const line of spendLines(report.rows, names)) o.say(line);
  const alerts = await admin<{ data: { severity: string; detector: string; summary: string }[] }>('GET', '/admin/v1/alerts?limit=20');
  o.say(`alerts: ${alerts.data.length}`);
  for (const a of alerts.data) o.say(`  [${a.severity}] ${a.detector}: ${a.summary}`);
}

/** The summary's spend by agent: one line each, the amounts at one precision (as the CLI prints them), the calls counted. */
export function spendLines(rows: readonly { key: string; usd: number; requests: number }[], names: ReadonlyMap<string, string>): string[] {
  const cost = usdColumn(rows.map((r) => r.usd));
  return rows.map((r) => `  ${(names.get(r.key) ?? r.key).padEnd(14)} ${cost(r.usd)}  ${r.requests} ${r.requests === 1 ? 'call' : 'calls'}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

