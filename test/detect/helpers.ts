// Shared by the detection scenarios: a gateway on a clock the test moves, calls through the
// official `openai` client, and waiting until the detectors have judged every event so far.
import OpenAI from 'openai';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

export const START = Date.UTC(2026, 10, 30, 9, 0, 5);
export const MINUTE = 60_000;

/** ~800 prompt tokens: about $0.002 of gpt-4o input per call, so spend is easy to reason about. */
export const FILLER = 'Please review the quarterly budget figures carefully. '.repeat(100);

/** A word for `i`: prompts that differ by more than a number, as real distinct tasks do. */
export const word = (i: number) => i.toString(26).split('').map((c) => String.fromCharCode(97 + parseInt(c, 26))).join('');

export interface DetectGateway extends TestGateway {
  clock: { now: number };
  client(input?: Record<string, unknown>, maxRetries?: number): Promise<{ openai: OpenAI; sessionId: string; token: string }>;
  /** Waits for the detectors to judge everything recorded so far. */
  settled(): Promise<void>;
  alerts(query?: string): Promise<any[]>;
}

export async function startDetectGateway(patch: Record<string, unknown> = {}): Promise<DetectGateway> {
  const clock = { now: START };
  const gw = await startGateway(
    {
      tokens: { ttl_seconds: 86_400 },
      profiles: [{
        name: 'assistant', models: ['gpt-4o', 'gpt-4o-mini'], tools: ['*'],
        session_budget: { default: { usd: 50 }, max: { usd: 500 } }, session_ttl_seconds: { default: 86_400, max: 86_400 },
      }],
      ...patch,
    },
    {},
    () => clock.now,
  );
  return {
    ...gw,
    clock,
    async client(input = {}, maxRetries = 0) {
      const { token, sessionId } = await gw.openSession({ ttl_seconds: 86_400, ...input });
      return { openai: new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries }), sessionId, token };
    },
    async settled() {
      await gw.gateway.detection.idle();
    },
    async alerts(query = '') {
      await gw.gateway.detection.idle();
      const res = await gw.admin('GET', `/admin/v1/alerts${query}`);
      if (res.status !== 200) throw new Error(`alerts: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.data;
    },
  };
}

/** One chat call; `tool` offers that function tool and makes the simulated model call it. */
export function chat(openai: OpenAI, prompt: string, tool?: string) {
  return openai.chat.completions.create({
    model: 'gpt-4o', max_tokens: 16,
    messages: [{ role: 'user', content: tool ? `${prompt} [[sim:tool_call=${tool}]]` : prompt }],
    ...(tool ? { tools: [{ type: 'function' as const, function: { name: tool, parameters: { type: 'object', properties: {} } } }] } : {}),
  });
}
