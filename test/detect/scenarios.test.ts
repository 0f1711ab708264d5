// Detect and contain, end to end: real traffic through the gateway with the official `openai`
// client, on a clock the test moves a minute at a time. Each scenario states its numbers.
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chat, FILLER, MINUTE, startDetectGateway, word, type DetectGateway } from './helpers.js';

type ApiError = InstanceType<typeof OpenAI.APIError>;

/** Tool mixes warm after 10 calls; spend judged from $0.001 a window (each call here costs ≈ $0.002). */
const LEARNING_FAST = { detection: { learning: { warmup_tool_calls: 10 }, detectors: { spend_spike: { min_usd: 0.001 } } } };

describe('one agent, three bursts: the spend alert says which kind each is', () => {
  let gw: DetectGateway;
  beforeAll(async () => {
    gw = await startDetectGateway(LEARNING_FAST);
  });
  afterAll(async () => {
    await gw.close();
  });

  /** Calls until a spend alert at `severity` is open for the agent; answers how many calls it took. */
  async function burstUntil(severity: 'warning' | 'critical', next: (i: number) => Promise<unknown>, max: number) {
    for (let i = 1; i <= max; i++) {
      await next(i);
      const [alert] = await gw.alerts('?detector=spend_spike&status=open');
      if (alert?.severity === severity || (severity === 'warning' && alert)) return { calls: i, alert };
    }
    throw new Error(`no ${severity} spend alert after ${max} calls`);
  }

  it('learns 3 calls a minute over 16 minutes (≈$0.0066/min) and raises nothing while it does', async () => {
    const { openai } = await gw.client();
    let n = 0;
    for (let m = 0; m < 17; m++) {
      await chat(openai, `${FILLER} summarize ledger ${word(n++)}`);
      await chat(openai, `${FILLER} draft reply ${word(n++)}`);
      await chat(openai, `${FILLER} look up ${word(n++)}`, 'search');
      gw.clock.now += MINUTE;
    }
    expect(await gw.alerts()).toEqual([]);
  });

  it('a 20× burst of distinct tasks: warning by call ≤ 16 (5×), critical by ≤ 62 (20×), legitimate throughput, session throttled', async () => {
    const sessions = await Promise.all([gw.client(), gw.client(), gw.client()]);
    const next = (i: number) => chat(sessions[i % 3]!.openai, `${FILLER} answer customer ${word(i)} about invoice ${word(i * 7)}`);
    const warning = await burstUntil('warning', next, 30);
    expect(warning.calls).toBeLessThanOrEqual(16);
    const critical = await burstUntil('critical', (i) => next(warning.calls + i), 60);
    const calls = warning.calls + critical.calls;
    expect(calls).toBeLessThanOrEqual(62);
    const alert = critical.alert;
    expect(alert.verdict).toBe('legitimate_throughput');
    expect(alert.evidence.ratio).toBeGreaterThanOrEqual(20);
    expect(alert.evidence.baseline).toBe('learned');
    expect(alert.evidence.distinct_sessions).toBe(3);
    expect(alert.evidence.distinct_prompts).toBe(alert.evidence.calls);
    expect(alert.agent.name).toBe('demo-agent');
    // Containment at critical: the session of the call that crossed 20× is throttled (429 + Retry-After).
    const throttle = alert.actions.find((a: any) => a.action === 'throttle_session');
    expect(throttle.detail.requests_per_minute).toBe(6);
    const throttled = sessions.find((s) => s.sessionId === throttle.detail.session)!;
    const outcomes: number[] = [];
    for (let i = 0; i < 8; i++) outcomes.push(await chat(throttled.openai, `${FILLER} follow up ${word(i)}`).then(() => 200, (e: ApiError) => e.status!));
    expect(outcomes).toContain(429);
    expect(outcomes.filter((s) => s === 200).length).toBeLessThanOrEqual(6);
    // Resolving the alert lifts the throttle.
    expect((await gw.admin('POST', `/admin/v1/alerts/${alert.id}/resolve`, { reason: 'month-end batch, expected' })).body.status).toBe('resolved');
    await expect(chat(throttled.openai, `${FILLER} after resolve`)).resolves.toBeDefined();
    console.log(`throughput burst: warning after ${warning.calls} calls, critical after ${calls} calls ($${alert.evidence.spend_usd.toFixed(4)} in the window, usual $${alert.evidence.expected_usd.toFixed(4)})`);
  });

  it('the same prompt in a burst: prompt loop', async () => {
    gw.clock.now += MINUTE;
    const { openai } = await gw.client();
    const { calls, alert } = await burstUntil('warning', () => chat(openai, `${FILLER} retry the failed export`), 30);
    expect(calls).toBeLessThanOrEqual(16);
    expect(alert.verdict).toBe('prompt_loop');
    expect(alert.evidence.most_repeated_prompt.calls).toBe(calls);
    expect(alert.evidence.most_repeated_prompt.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    // Evidence holds prompts by fingerprint only: no prompt text anywhere in the alert.
    expect(JSON.stringify(alert)).not.toContain('export');
    await gw.admin('POST', `/admin/v1/alerts/${alert.id}/resolve`, {});
  });

  it('a burst calling a tool the profile never used: lateral tool misuse, and a tool-deviation alert', async () => {
    gw.clock.now += MINUTE;
    const { openai } = await gw.client();
    const { calls, alert } = await burstUntil('warning', (i) => chat(openai, `${FILLER} collect ${word(i)}`, 'upload_archive'), 30);
    expect(calls).toBeLessThanOrEqual(16);
    expect(alert.verdict).toBe('lateral_tool_misuse');
    expect(alert.evidence.new_tools).toEqual(['upload_archive']);
    const [deviation] = await gw.alerts('?detector=tool_deviation');
    expect(deviation).toMatchObject({ severity: 'warning', verdict: 'lateral_tool_misuse', status: 'open' });
    expect(deviation.evidence.tools).toEqual(['upload_archive']);
    expect(deviation.evidence.known_tools).toEqual(['search']);
    // Raised once, on the first call to the new tool: from then on the tool is in the profile's
    // learned mix, and the open alert is what keeps it in front of a human.
    expect(deviation.occurrences).toBe(1);
    const raised = (await gw.admin('GET', '/admin/v1/audit?type=alert.raised&limit=10')).body.data;
    const first = raised.find((e: any) => e.data.alert === deviation.id);
    const spike = raised.find((e: any) => e.data.alert === alert.id);
    expect(first.seq).toBeLessThan(spike.seq);
  });

  it('the agent identity is the same in all three: the verdict came from behaviour', async () => {
    const spend = await gw.alerts('?detector=spend_spike');
    expect(spend.map((a) => a.verdict).sort()).toEqual(['lateral_tool_misuse', 'legitimate_throughput', 'prompt_loop']);
    expect(new Set(spend.map((a) => a.agent.id)).size).toBe(1);
    // Every raise and action is on the audit chain.
    const events = (await gw.admin('GET', '/admin/v1/audit?type=alert.*&limit=100')).body.data.map((e: any) => e.type);
    expect(events.filter((t: string) => t === 'alert.raised').length).toBeGreaterThanOrEqual(4);
    expect(events).toContain('alert.escalated');
    expect(events).toContain('alert.action');
    expect(events).toContain('alert.resolved');
    expect((await gw.admin('GET', '/admin/v1/audit/verify')).body.ok).toBe(true);
  });
});

describe('a retry loop of identical failing prompts is suspended', () => {
  let gw: DetectGateway;
  beforeAll(async () => {
    gw = await startDetectGateway();
  });
  afterAll(async () => {
    await gw.close();
  });

  it('the 5th identical rejected call is refused with 403 session_suspended (4 rejections = failed_repeats), $0 spent; approving resume lets it call again', async () => {
    const { openai, sessionId } = await gw.client();
    const statuses: number[] = [];
    let refusal: ApiError | undefined;
    for (let i = 0; i < 8 && !refusal; i++) {
      const err = (await chat(openai, 'Export the report [[sim:error=400]]').catch((e: unknown) => e)) as ApiError;
      statuses.push(err.status!);
      if (err.status === 403) refusal = err;
      await gw.settled();
    }
    expect(statuses).toEqual([400, 400, 400, 400, 403]);
    expect((refusal!.error as any).code).toBe('session_suspended');
    const approvalId = (refusal!.error as any).approval_id;
    expect(approvalId).toMatch(/^apr_/);
    const session = await gw.session(sessionId);
    expect(session.status).toBe('suspended');
    expect(session.spent.usd).toBe(0);
    const [alert] = await gw.alerts('?detector=retry_loop');
    expect(alert).toMatchObject({ severity: 'critical', verdict: 'prompt_loop', session_id: sessionId });
    expect(alert.evidence).toMatchObject({ calls: 4, failed: 4, rejected: 4, outcomes: { upstream_error: 4 } });
    expect(alert.actions.map((a: any) => a.action)).toEqual(['suspend_session', 'notify']);
    // The human decides: the resume approval is pending with the alert's context.
    const approval = (await gw.admin('GET', `/admin/v1/approvals/${approvalId}`)).body;
    expect(approval).toMatchObject({ kind: 'resume', status: 'pending' });
    expect(approval.context.alert).toBe(alert.id);
    expect((await gw.admin('POST', `/admin/v1/approvals/${approvalId}/approve`, { reason: 'fixed the export job' })).status).toBe(200);
    expect((await gw.session(sessionId)).status).toBe('active');
    await expect(chat(openai, 'Export the report, fixed')).resolves.toBeDefined();
  });

  it('a provider outage the SDK retries on its own (maxRetries 2) is a warning, not a containment: the session keeps calling', async () => {
    const { openai, sessionId } = await gw.client({}, 2);
    for (let i = 0; i < 2; i++) {
      const err = (await chat(openai, 'Sync the CRM [[sim:error=500]]').catch((e: unknown) => e)) as ApiError;
      expect(err.status).toBe(500);
      await gw.settled();
    }
    const attempts = (await gw.admin('GET', `/admin/v1/usage?session=${sessionId}&limit=100`)).body.data.length;
    expect(attempts).toBe(6);
    const [alert] = await gw.alerts(`?detector=retry_loop&session_id=${sessionId}`);
    expect(alert).toMatchObject({ severity: 'warning', verdict: 'prompt_loop', session_id: sessionId });
    expect(alert.evidence).toMatchObject({ failed: 6, rejected: 0, outcomes: { upstream_error: 6 } });
    expect(alert.actions.map((a: any) => a.action)).toEqual(['notify']);
    // No webhook in this set-up: the notice is recorded as skipped, not as a delivery that failed.
    expect(alert.actions[0].detail).toEqual({ skipped: 'no webhook is configured (detection.notify.webhook_url)' });
    expect((await gw.session(sessionId)).status).toBe('active');
    await expect(chat(openai, 'Sync the CRM, the provider is back')).resolves.toBeDefined();
  });

  it('denying the resume revokes the session', async () => {
    const { openai, sessionId } = await gw.client();
    for (let i = 0; i < 4; i++) {
      await chat(openai, 'Import [[sim:error=400]]').catch(() => undefined);
      await gw.settled();
    }
    const [pending] = (await gw.admin('GET', `/admin/v1/approvals?kind=resume&status=pending&session=${sessionId}`)).body.data;
    expect((await gw.admin('POST', `/admin/v1/approvals/${pending.id}/deny`, { reason: 'broken agent' })).status).toBe(200);
    expect((await gw.session(sessionId)).status).toBe('revoked');
  });
});

describe('steady traffic raises nothing', () => {
  let gw: DetectGateway;
  beforeAll(async () => {
    gw = await startDetectGateway(LEARNING_FAST);
  });
  afterAll(async () => {
    await gw.close();
  });

  it('2 hours of a normal day: 3-4 calls a minute, a task (session) every 20 minutes, tool calls, 1 upstream error in 25 retried once — 0 alerts', async () => {
    let n = 0;
    let calls = 0;
    let session = await gw.client();
    for (let m = 0; m < 120; m++) {
      if (m > 0 && m % 20 === 0) {
        await gw.admin('POST', `/admin/v1/sessions/${session.sessionId}/close`, {});
        session = await gw.client();
      }
      const perMinute = 3 + (m % 2);
      for (let c = 0; c < perMinute; c++, calls++) {
        n++;
        if (n % 25 === 0) {
          // A transient failure, retried once with the same prompt (what SDKs do).
          await chat(session.openai, `${FILLER} reconcile ${word(n)} [[sim:error=500]]`).catch(() => undefined);
          await chat(session.openai, `${FILLER} reconcile ${word(n)}`);
          calls++;
        } else if (n % 3 === 0) {
          await chat(session.openai, `${FILLER} look up ${word(n)}`, n % 2 === 0 ? 'search' : 'calendar');
        } else {
          await chat(session.openai, `${FILLER} handle request ${word(n)}`);
        }
      }
      gw.clock.now += MINUTE;
    }
    const alerts = await gw.alerts();
    console.log(`steady run: ${calls} calls over 120 minutes, ${alerts.length} alerts`);
    expect(alerts).toEqual([]);
  });
});
