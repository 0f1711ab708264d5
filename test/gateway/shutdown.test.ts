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
