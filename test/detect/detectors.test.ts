// The other detectors, the alert lifecycle, notices and restarts, each driven through a real
// gateway (HTTP, the `openai` client, the admin API) on a clock the test moves.
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Directory } from '../../src/identity/directory.js';
import { Gateway } from '../../src/server/index.js';
import { ADMIN_TOKEN, testConfig } from '../helpers/gateway.js';
import { decodeJwt, delegate } from '../helpers/oauth.js';
import { chat, MINUTE, startDetectGateway, word, type DetectGateway } from './helpers.js';

type ApiError = InstanceType<typeof OpenAI.APIError>;

/** A webhook receiver that keeps every JSON body it is sent. */
async function receiver(): Promise<{ url: string; bodies: any[]; close(): Promise<void> }> {
  const bodies: any[] = [];
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(text));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies, close: () => new Promise((r) => server.close(() => r())) };
}

async function until<T>(read: () => Promise<T | undefined> | T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A GET /v1/models with `token` from a given loopback source address. */
function modelsFrom(url: string, token: string, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(`${url}/v1/models`, { localAddress, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    }).on('error', reject).end();
  });
}

/** Two sessions of demo-agent; the first repeats a failing prompt until retry_loop (`failed_repeats: 3`) is critical. */
async function loopOneOfTwo(gw: DetectGateway) {
  const { openai } = await gw.client();
  const other = await gw.client();
  for (let i = 0; i < 3; i++) {
    await chat(openai, 'Drop the table [[sim:error=400]]').catch(() => undefined);
    await gw.settled();
  }
  return { other, agent: (await gw.admin('GET', '/admin/v1/agents/demo-agent')).body };
}

describe('out-of-task, credential misuse and delegation detectors', () => {
  let gw: DetectGateway;
  let hook: Awaited<ReturnType<typeof receiver>>;
  beforeAll(async () => {
    hook = await receiver();
    gw = await startDetectGateway({
      detection: { notify: { webhook_url: hook.url }, detectors: { out_of_task: { idle_seconds: 600 } } },
      profiles: [{
        name: 'assistant', models: ['gpt-4o', 'gpt-4o-mini'], tools: ['*'],
        session_budget: { default: { usd: 50 }, max: { usd: 500 } }, session_ttl_seconds: { default: 86_400, max: 86_400 },
        mission: { active_hours: { from: '08:00', to: '18:00' }, session_minutes: 30, max_fanout: 2, max_delegation_depth: 1 },
      }],
      budgets: { timezone: 'UTC' },
    });
  });
  afterAll(async () => {
    await gw.close();
    await hook.close();
  });

  it('a session calling again after 11 idle minutes (limit 10), and 70 minutes into a 30-minute task: out-of-task warnings', async () => {
    const { openai, sessionId } = await gw.client();
    await chat(openai, 'start the task');
    gw.clock.now += 11 * MINUTE;
    await chat(openai, 'one more thing');
    let [alert] = await gw.alerts(`?detector=out_of_task&session_id=${sessionId}`);
    expect(alert).toMatchObject({ severity: 'warning', subject: `session:${sessionId}` });
    expect(alert.evidence).toMatchObject({ idle_seconds: 660, limit_seconds: 600 });
    // Warnings are recorded, not notified (out_of_task's default warning actions are []).
    expect(alert.actions).toEqual([]);
    gw.clock.now += 60 * MINUTE;
    await chat(openai, 'still here');
    [alert] = await gw.alerts(`?detector=out_of_task&session_id=${sessionId}`);
    expect(alert.occurrences).toBeGreaterThanOrEqual(2);
    expect(alert.evidence).toMatchObject({ expected_minutes: 30, overrun_ratio: 2 });
  });

  it('a call at 20:15 UTC with active hours 08:00-18:00 is out of hours', async () => {
    gw.clock.now = Date.UTC(2026, 10, 30, 20, 15);
    const { openai, sessionId } = await gw.client();
    await chat(openai, 'late work');
    const [alert] = await gw.alerts(`?detector=out_of_task&session_id=${sessionId}`);
    expect(alert.evidence).toEqual({ local_time: '20:15', time_zone: 'UTC', active_hours: { from: '08:00', to: '18:00' } });
    gw.clock.now = Date.UTC(2026, 11, 1, 9, 0);
  });

  it('one session token used from 127.0.0.1 and 127.0.0.2 at once: critical, the session is suspended and the webhook told', async () => {
    const { token, sessionId } = await gw.client();
    expect(await modelsFrom(gw.url, token, '127.0.0.1')).toBe(200);
    expect(await modelsFrom(gw.url, token, '127.0.0.2')).toBe(200);
    const [alert] = await gw.alerts(`?detector=credential_misuse&session_id=${sessionId}`);
    expect(alert).toMatchObject({ severity: 'critical', evidence: { kind: 'shared_credential', sources: ['127.0.0.1', '127.0.0.2'] } });
    expect(alert.actions.map((a: any) => a.action)).toEqual(['suspend_session', 'notify']);
    // The very next request is refused.
    expect(await modelsFrom(gw.url, token, '127.0.0.1')).toBe(403);
    const notice = await until(() => hook.bodies.find((b) => b.alert?.id === alert.id));
    expect(notice.event).toBe('alert.raised');
    expect(notice.alert).toMatchObject({ object: 'alert', detector: 'credential_misuse', severity: 'critical', session_id: sessionId, agent: { name: 'demo-agent' } });
    // The notice says what was done (containment runs before the notice).
    expect(notice.alert.actions[0].action).toBe('suspend_session');
    expect(JSON.stringify(hook.bodies)).not.toContain(token);
  });

  it('a revoked token presented again: warning; 10 failed authentications from one source: warning on the source', async () => {
    const { token, sessionId } = await gw.client();
    await gw.admin('POST', `/admin/v1/tokens/${decodeJwt(token).jti}/revoke`, {});
    expect(await modelsFrom(gw.url, token, '127.0.0.3')).toBe(401);
    const [replay] = await gw.alerts(`?detector=credential_misuse&session_id=${sessionId}`);
    expect(replay).toMatchObject({ severity: 'warning', evidence: { kind: 'revoked_token_replay', source: '127.0.0.3' } });
    for (let i = 0; i < 9; i++) expect(await modelsFrom(gw.url, `not-a-token-${i}`, '127.0.0.4')).toBe(401);
    expect((await gw.alerts('?detector=credential_misuse')).some((a) => a.subject === 'source:127.0.0.4')).toBe(false);
    expect(await modelsFrom(gw.url, 'not-a-token-10', '127.0.0.4')).toBe(401);
    const storm = (await gw.alerts('?detector=credential_misuse')).find((a) => a.subject === 'source:127.0.0.4');
    expect(storm.evidence).toMatchObject({ kind: 'failed_authentications', failures: 10, window_seconds: 60 });
  });

  it('a session delegating 3 children (max_fanout 2) and a grandchild (max depth 1): delegation warnings', async () => {
    const { token, sessionId } = await gw.client();
    const children = [];
    for (let i = 0; i < 3; i++) {
      const res = await delegate(gw.url, token, { task: `part ${word(i)}`, budget_usd: '1' });
      expect(res.status).toBe(200);
      children.push(res.body.access_token as string);
    }
    const grandchild = await delegate(gw.url, children[0]!, { task: 'deeper', budget_usd: '0.1' });
    expect(grandchild.status).toBe(200);
    const alerts = await gw.alerts('?detector=delegation');
    const fanout = alerts.find((a) => a.subject === `session:${sessionId}`);
    expect(fanout.evidence).toMatchObject({ children: 3, expected: 2 });
    const depth = alerts.find((a) => a.evidence.depth === 2);
    expect(depth.evidence.expected).toBe(1);
  });
});

describe('a call-rate spike that costs nothing', () => {
  it('1 call a minute learned, then failing calls: raised at the 10th in the minute (10×, $0), by call rate, triaged as a prompt loop', async () => {
    const gw = await startDetectGateway({ detection: { learning: { warmup_windows: 3 } } });
    try {
      const { openai } = await gw.client();
      for (let m = 0; m < 4; m++) {
        await chat(openai, `hourly digest ${word(m)}`);
        gw.clock.now += MINUTE;
      }
      for (let i = 0; i < 12; i++) await chat(openai, `fetch page ${word(i)} [[sim:error=503]]`).catch(() => undefined);
      const [alert] = await gw.alerts('?detector=spend_spike');
      expect(alert.summary).toMatch(/^Calls 10\.0× the usual rate: 10 in 60s \(usually 1\.0\)/);
      expect(alert.evidence).toMatchObject({ spend_usd: 0, spend_ratio: 0, calls_ratio: 10, failed_calls: 10 });
      expect(alert.verdict).toBe('prompt_loop');
    } finally {
      await gw.close();
    }
  });
});

describe('the alerts API', () => {
  let gw: DetectGateway;
  beforeAll(async () => {
    gw = await startDetectGateway();
  });
  afterAll(async () => {
    await gw.close();
  });

  it('lists, filters, acknowledges and resolves; 404 and 409 where they should', async () => {
    const { openai } = await gw.client();
    for (let i = 0; i < 10; i++) await chat(openai, 'the same thing again');
    const [alert] = await gw.alerts('?detector=retry_loop');
    expect(alert).toMatchObject({ severity: 'warning', status: 'open', occurrences: 1 });
    expect((await gw.admin('GET', `/admin/v1/alerts/${alert.id}`)).body.id).toBe(alert.id);
    expect((await gw.admin('GET', '/admin/v1/alerts/alr_nope')).status).toBe(404);
    expect((await gw.admin('GET', '/admin/v1/alerts?status=bogus')).status).toBe(400);
    expect((await gw.admin('GET', '/admin/v1/alerts?agent_id=demo-agent')).body.data).toHaveLength(1);
    // Named as the other lists name it, too; a misspelt filter is refused, never ignored (which
    // would answer every alert as if filtered).
    expect((await gw.admin('GET', '/admin/v1/alerts?agent=demo-agent')).body.data).toHaveLength(1);
    expect((await gw.admin('GET', `/admin/v1/alerts?session=${alert.session_id}`)).body.data).toHaveLength(1);
    expect((await gw.admin('GET', '/admin/v1/alerts?agent=demo-agent&agent_id=other')).status).toBe(400);
    const misspelt = await gw.admin('GET', '/admin/v1/alerts?agnet=nobody');
    expect(misspelt.status).toBe(400);
    expect(misspelt.body.error.message).toContain('unknown key(s): agnet');
    const noQuery = await gw.admin('GET', `/admin/v1/alerts/${alert.id}?verbose=1`);
    expect(noQuery.status).toBe(400);
    expect(noQuery.body.error.message).toContain('takes no query parameters');
    expect((await gw.admin('GET', '/admin/v1/alerts?severity=critical')).body.data).toHaveLength(0);
    const acked = await gw.admin('POST', `/admin/v1/alerts/${alert.id}/acknowledge`, { reason: 'looking' });
    expect(acked.body).toMatchObject({ status: 'acknowledged', acknowledged_by: 'admin' });
    expect((await gw.admin('POST', `/admin/v1/alerts/${alert.id}/acknowledge`, {})).status).toBe(409);
    // Still unresolved: a further finding updates it rather than raising another.
    await chat(openai, 'the same thing again');
    const again = await gw.alerts('?detector=retry_loop');
    expect(again).toHaveLength(1);
    expect(again[0].occurrences).toBe(2);
    expect((await gw.admin('POST', `/admin/v1/alerts/${alert.id}/resolve`, {})).body).toMatchObject({ status: 'resolved', resolved_by: 'admin' });
    expect((await gw.admin('POST', `/admin/v1/alerts/${alert.id}/resolve`, {})).status).toBe(409);
    // Resolved: the next finding is a new alert.
    await chat(openai, 'the same thing again');
    expect((await gw.alerts('?detector=retry_loop&status=open'))).toHaveLength(1);
    expect((await gw.alerts('?detector=retry_loop'))).toHaveLength(2);
    const spec = (await gw.admin('GET', '/admin/v1/openapi.json')).body;
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/admin/v1/alerts', '/admin/v1/alerts/{id}/acknowledge', '/admin/v1/sessions/{id}/suspend']));
  });

  it('judges an event whose session, agent and profile have left the directory cache (a resync, another replica\'s change)', async () => {
    const { openai, sessionId } = await gw.client();
    for (let i = 0; i < 10; i++) await chat(openai, 'from the very start once more');
    const alertOf = async () => (await gw.alerts('?detector=retry_loop')).find((a: any) => a.subject === `session:${sessionId}`);
    expect((await alertOf()).occurrences).toBe(1);
    // The session's last call judged again with nothing cached: the engine loads the three records
    // from the store (the path a call never takes, since authenticating it fills the cache).
    const [last] = await gw.gateway.store.listEvents({ type: 'model.call', sessionId, limit: 1 });
    (gw.gateway as unknown as { pipeline: { directory: Directory } }).pipeline.directory.clear();
    gw.gateway.detection.write([{ ...last!, seq: 0, prevHash: null, hash: null }]);
    expect((await alertOf()).occurrences).toBe(2);
  });

  it('an operator suspends a session (403 session_suspended with the approval id) and resumes it', async () => {
    const { openai, sessionId } = await gw.client();
    const suspended = (await gw.admin('POST', `/admin/v1/sessions/${sessionId}/suspend`, { reason: 'investigating' })).body;
    expect(suspended.suspended).toEqual([sessionId]);
    const err = (await chat(openai, 'hello').catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(403);
    expect(err.error).toMatchObject({ code: 'session_suspended', approval_id: suspended.approval_id });
    expect((await gw.admin('POST', `/admin/v1/sessions/${sessionId}/resume`, {})).body).toMatchObject({ status: 'active', approval_id: suspended.approval_id });
    await expect(chat(openai, 'hello again')).resolves.toBeDefined();
    expect((await gw.admin('POST', `/admin/v1/sessions/${sessionId}/resume`, {})).status).toBe(409);
  });
});

describe('containment by revoking the agent, Slack notices, and a restart', () => {
  let hook: Awaited<ReturnType<typeof receiver>>;
  let gateway: Gateway | undefined;
  beforeAll(async () => {
    hook = await receiver();
  });
  afterEach(async () => {
    await gateway?.close(500);
    gateway = undefined;
  });
  afterAll(async () => {
    await hook.close();
  });

  it('retry_loop critical → revoke_agent: the agent and all its sessions are revoked; the notice is in Slack format', async () => {
    const gw = await startDetectGateway({
      detection: { notify: { webhook_url: hook.url, format: 'slack' }, detectors: { retry_loop: { failed_repeats: 3, actions: { critical: ['revoke_agent', 'notify'] } } } },
    });
    try {
      const { other, agent } = await loopOneOfTwo(gw);
      expect(agent.status).toBe('revoked');
      expect((await gw.session(other.sessionId)).status).toBe('revoked');
      const err = (await chat(other.openai, 'hi').catch((e: unknown) => e)) as ApiError;
      expect(err.status).toBe(401);
      const notice = await until(() => hook.bodies.find((b) => typeof b.text === 'string' && b.text.includes('retry_loop')));
      expect(notice.text).toMatch(/^:rotating_light: \[critical\] retry_loop: /);
      expect(notice.blocks[1].elements.map((e: any) => e.text).join(' ')).toContain('revoke_agent');
    } finally {
      await gw.close();
    }
  });

  it('retry_loop critical → suspend_agent: every session of the agent is refused until an operator resumes it, and then calls again', async () => {
    const gw = await startDetectGateway({ detection: { detectors: { retry_loop: { failed_repeats: 3, actions: { critical: ['suspend_agent'] } } } } });
    try {
      const { other, agent } = await loopOneOfTwo(gw);
      expect(agent.status).toBe('suspended');
      const [alert] = await gw.alerts('?detector=retry_loop');
      expect(alert.actions).toEqual([expect.objectContaining({ action: 'suspend_agent', detail: { agent: agent.id, suspended: true, resume: `POST /admin/v1/agents/${agent.id}/resume` } })]);
      const [suspended] = (await gw.admin('GET', `/admin/v1/audit/events?type=agent.suspended&agent=${agent.id}`)).body.data;
      expect(suspended).toMatchObject({ actor: 'detector:retry_loop', data: { alert: alert.id } });
      // The other session was not the one that looped: it is stopped too, and stays open.
      const err = (await chat(other.openai, 'hi').catch((e: unknown) => e)) as ApiError;
      expect([err.status, err.code]).toEqual([401, 'agent_inactive']);
      expect((await gw.session(other.sessionId)).status).toBe('active');
      expect((await gw.admin('POST', '/admin/v1/agents/demo-agent/resume', { reason: 'looked at it' })).status).toBe(200);
      expect((await chat(other.openai, 'hi again')).choices[0]!.message.content).toBeTruthy();
    } finally {
      await gw.close();
    }
  });

  it('learned baselines and throttles survive a restart', async () => {
    const gw = await startDetectGateway({ detection: { detectors: { spend_spike: { min_usd: 0, warning_ratio: 2, critical_ratio: 3 } }, learning: { warmup_windows: 3 } } });
    const { openai, token } = await gw.client();
    for (let m = 0; m < 4; m++) {
      await chat(openai, `steady ${word(m)}`);
      gw.clock.now += MINUTE;
    }
    for (let i = 0; i < 4; i++) await chat(openai, `burst ${word(i)}`);
    const [alert] = await gw.alerts('?detector=spend_spike');
    expect(alert.severity).toBe('critical');
    expect(alert.actions.map((a: any) => a.action)).toContain('throttle_session');
    // Same data dir, new process state: the throttle is still there and the baseline is learned.
    await gw.gateway.close(500);
    gateway = await Gateway.create({ config: testConfig({ tokens: { ttl_seconds: 86_400 }, detection: { learning: { warmup_windows: 3 } } }), dataDir: gw.dataDir, env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN }, now: () => gw.clock.now });
    const url = await gateway.listen(0, '127.0.0.1');
    const again = new OpenAI({ apiKey: token, baseURL: `${url}/v1`, maxRetries: 0 });
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push(await chat(again, `after restart ${word(i)}`).then(() => 200, (e: ApiError) => e.status!));
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429]);
    // The throttle is the agent's (a spend spike is about the agent): a session opened after the
    // restart shares its bucket, so it is refused at once too.
    const opened = await fetch(`${url}/admin/v1/sessions`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'demo-agent', task: 'fresh start' }),
    }).then((r) => r.json() as Promise<{ token: string }>);
    const fresh = new OpenAI({ apiKey: opened.token, baseURL: `${url}/v1`, maxRetries: 0 });
    expect(await chat(fresh, 'a fresh session').then(() => 200, (e: ApiError) => e.status!)).toBe(429);
    const rows = await gateway.store.loadBaselines();
    const baseline = rows.find((r) => r.key.startsWith('agent:'))!.data as any;
    expect(baseline.spend.n).toBe(4);
    expect(baseline.spend.mean).toBeGreaterThan(0);
  });
});

/** A gateway whose webhook takes each notice and never answers it (the notifier gives up after 5 s). */
async function gatewayWithHangingWebhook(): Promise<{ waiting: ServerResponse[]; gw: DetectGateway; close: () => Promise<void> }> {
  const waiting: ServerResponse[] = [];
  const hanging = createServer((req, res) => {
    req.resume();
    waiting.push(res);
  });
  await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
  const gw = await startDetectGateway({ detection: { notify: { webhook_url: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/hook` } } });
  return {
    waiting,
    gw,
    close: async () => {
      for (const res of waiting) res.destroy();
      await gw.close();
      await new Promise<void>((r) => hanging.close(() => r()));
    },
  };
}

describe('a webhook that never answers', () => {
  it('holds up no other alert: a second session is contained while the first notice still waits', async () => {
    const { waiting, gw, close } = await gatewayWithHangingWebhook();
    try {
      const first = await gw.client();
      expect(await modelsFrom(gw.url, first.token, '127.0.0.1')).toBe(200);
      expect(await modelsFrom(gw.url, first.token, '127.0.0.2')).toBe(200);
      await until(() => (waiting.length === 1 ? true : undefined), 2000);
      const second = await gw.client();
      expect(await modelsFrom(gw.url, second.token, '127.0.0.1')).toBe(200);
      expect(await modelsFrom(gw.url, second.token, '127.0.0.2')).toBe(200);
      // Suspended well before the first notice's 5 s are up: its judgement did not queue behind it.
      const started = Date.now();
      await until(async () => ((await modelsFrom(gw.url, second.token, '127.0.0.1')) === 403 ? true : undefined), 2000);
      expect(Date.now() - started).toBeLessThan(2000);
      // Its own notice goes out too (it may reach the webhook just after the suspension), while the first still waits.
      await until(() => (waiting.length === 2 ? true : undefined), 2000);
      expect(waiting[0]!.writableEnded).toBe(false);
    } finally {
      await close();
    }
  });
});

describe('a storm of new alerts', () => {
  it('keeps at most 32 raises in flight: a webhook that never answers holds 32 notices open, not one per alert', async () => {
    const { waiting, gw, close } = await gatewayWithHangingWebhook();
    try {
      const sessions = await Promise.all(Array.from({ length: 40 }, () => gw.client()));
      for (const { token } of sessions) {
        expect(await modelsFrom(gw.url, token, '127.0.0.1')).toBe(200);
        expect(await modelsFrom(gw.url, token, '127.0.0.2')).toBe(200);
      }
      await until(() => (waiting.length >= 32 ? true : undefined), 3000);
      await new Promise((r) => setTimeout(r, 300));
      expect(waiting.length).toBe(32);
      // Each answered notice lets one more through, until all 40 were sent.
      for (let i = 0; i < 8; i++) waiting[i]!.writeHead(204).end();
      await until(() => (waiting.length === 40 ? true : undefined), 3000);
    } finally {
      await close();
    }
  });
});

describe('an alert updated while its actions run', () => {
  it('is stored as it stands after them, not as it was raised', async () => {
    // Answers each notice after 1.5 s: past the second within which repeat findings' updates are written.
    const slow = createServer((req, res) => {
      req.resume();
      setTimeout(() => res.writeHead(204).end(), 1500);
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const gw = await startDetectGateway({
      detection: { notify: { webhook_url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/hook` }, detectors: { retry_loop: { repeats: 3 } } },
    });
    try {
      const { openai, sessionId } = await gw.client();
      // The 3rd call raises the warning (its notice takes 1.5 s); the 4th to the 8th update it meanwhile.
      for (let i = 0; i < 8; i++) await chat(openai, 'the same prompt again');
      const [alert] = await gw.alerts(`?detector=retry_loop&session_id=${sessionId}`);
      expect(alert.occurrences).toBe(6);
      expect(alert.actions).toEqual([expect.objectContaining({ action: 'notify', detail: { delivered: true } })]);
      // What a restart would load: the row itself.
      const stored = await gw.gateway.store.getAlert(alert.id);
      expect(stored).toMatchObject({ occurrences: 6, actions: [expect.objectContaining({ action: 'notify' })] });
    } finally {
      await gw.close();
      await new Promise<void>((r) => slow.close(() => r()));
    }
  });
});
