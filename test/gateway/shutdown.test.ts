// Graceful shutdown: stop taking new calls, let streams in flight finish, keep their charges.
import Database from 'better-sqlite3';
import OpenAI from 'openai';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startGateway } from '../helpers/gateway.js';

describe('graceful shutdown', () => {
  it('finishes an in-flight stream, refuses new calls, and persists the charge', async () => {
    const gw = await startGateway();
    const { token, sessionId } = await gw.openSession();
    const openai = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o-mini', stream: true,
      messages: [{ role: 'user', content: 'slow [[sim:tokens=20]] [[sim:tokens_per_second=40]]' }],
    });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next(); // the stream is under way
    const closing = gw.gateway.close(5000);
    const refused = await fetch(`${gw.url}/healthz`).then((r) => r.status, () => 'refused');
    expect(refused).not.toBe(200);
    let text = '';
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) text += r.value.choices[0]?.delta.content ?? '';
    await closing;
    expect(text.trim().split(/\s+/)).toHaveLength(20);
    const db = new Database(join(gw.dataDir, 'tollgate.db'), { readonly: true });
    try {
      const row = db.prepare('SELECT spent_output_tokens, spent_requests FROM sessions WHERE id = ?').get(sessionId) as { spent_output_tokens: number; spent_requests: number };
      expect(row).toEqual({ spent_output_tokens: 20, spent_requests: 1 });
    } finally {
      db.close();
    }
  });
});

describe('a shutdown whose grace runs out', () => {
  it('cuts what is still running as the gateway\'s own cut (stream_cut, with a shutting_down error event), charges each call, and seals every event in its last checkpoint', async () => {
    const gw = await startGateway({ server: { shutdown_grace_ms: 300 } });
    const { token, sessionId } = await gw.openSession({ budget: { usd: 1 } });
    const openai = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    // Paced streams that would take ~10 s, and plain calls whose answer comes after ~10 s.
    const streams = await Promise.all(Array.from({ length: 6 }, () => openai.chat.completions.create({
      model: 'gpt-4o-mini', stream: true,
      messages: [{ role: 'user', content: 'slow [[sim:tokens=200]] [[sim:tokens_per_second=20]]' }],
    })));
    const read = streams.map(async (stream) => {
      let text = '';
      try {
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
        return { text, error: null };
      } catch (err) {
        return { text, error: err as InstanceType<typeof OpenAI.APIError> };
      }
    });
    const plain = Array.from({ length: 3 }, () => openai.chat.completions.create({
      model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'late [[sim:latency_ms=10000]]' }],
    }).then(() => null, (err: unknown) => err as InstanceType<typeof OpenAI.APIError>));
    await new Promise((r) => setTimeout(r, 400));
    await gw.gateway.close();

    for (const r of await Promise.all(read)) {
      expect(r.text.length).toBeGreaterThan(0);
      expect(r.error?.message).toMatch(/shutting down/);
    }
    for (const err of await Promise.all(plain)) {
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect(err!.status).toBe(503);
      expect(err!.message).toMatch(/shutting down/);
    }
    const db = new Database(join(gw.dataDir, 'tollgate.db'), { readonly: true });
    try {
      const lines = db.prepare('SELECT stream, outcome, estimated, input_tokens, output_tokens FROM usage_records WHERE session_id = ?').all(sessionId) as { stream: number; outcome: string; estimated: number; input_tokens: number; output_tokens: number }[];
      expect(lines).toHaveLength(9);
      for (const line of lines) {
        expect(line).toMatchObject({ outcome: 'stream_cut', estimated: 1 });
        expect(line.input_tokens).toBeGreaterThan(0);
        expect(line.output_tokens > 0).toBe(line.stream === 1);
      }
      const { last } = db.prepare('SELECT max(seq) AS last FROM audit_events').get() as { last: number };
      const { sealed } = db.prepare('SELECT max(last_seq) AS sealed FROM audit_checkpoints').get() as { sealed: number };
      expect(sealed).toBe(last);
    } finally {
      db.close();
    }
  });

  it('answers a call held for a step-up approval with 503 shutting_down, not a pending approval to poll', async () => {
    const gw = await startGateway({
      server: { shutdown_grace_ms: 200 },
      profiles: [{ name: 'assistant', models: ['gpt-4o-mini'], enforcement: { mode: 'soft', soft_threshold: 0.01, approval_hold_seconds: 30 } }],
    });
    const { token } = await gw.openSession({ budget: { usd: 0.001 } });
    const openai = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const held = openai.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 400, messages: [{ role: 'user', content: 'needs a human [[sim:tokens=400]]' }] })
      .then(() => null, (err: unknown) => err as InstanceType<typeof OpenAI.APIError>);
    let pending: unknown[] = [];
    for (let i = 0; i < 100 && pending.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      pending = (await gw.admin('GET', '/admin/v1/approvals?status=pending')).body.data;
    }
    expect(pending).toHaveLength(1);
    await gw.gateway.close();
    const err = await held;
    expect(err?.status).toBe(503);
    expect(err?.message).toMatch(/shutting down/);
  });
});
