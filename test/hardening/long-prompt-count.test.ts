// A prompt near the body limit, counted exactly — to hold it when its cheap bound would not fit the
// budget, or to charge it when its call is cut — is counted in slices: the event loop keeps
// serving other calls meanwhile. In one go, a 3 MB prompt's count holds the loop for a few hundred
// milliseconds: an agent could stall every tenant's calls by sending such prompts and cutting them.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countPromptTokens } from '../../src/providers/prompt-tokens.js';
import { tokenizerFor } from '../../src/providers/tokenizer.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { HOSTILE_ENV, hostileConfig, startHostileUpstream, type HostileUpstream } from '../helpers/hostile-upstream.js';

let upstream: HostileUpstream;
let gw: TestGateway;
beforeAll(async () => {
  upstream = await startHostileUpstream();
  gw = await startGateway(hostileConfig(upstream.url), HOSTILE_ENV);
});
afterAll(async () => {
  await gw.close();
  await upstream.close();
});

// ~3 MB of made-up words: ~1.4 M tokens (~$1.4 at the test price of $1 per million), while its
// byte bound (~3 M tokens, $3) does not fit a $2 budget — so the hold needs the exact count. Words
// the vocabulary does not know keep the tokenizer busy: ~0.3 s in one go.
const WORDS = (() => {
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const words: string[] = [];
  for (let chars = 0; chars < 3_000_000;) {
    let word = '';
    for (let n = 3 + Math.floor(next() * 7); n > 0; n--) word += String.fromCharCode(97 + Math.floor(next() * 26));
    words.push(word);
    chars += word.length + 1;
  }
  return words.join(' ');
})();
const prompt = (mode: string) => `[[hostile:${mode}]] ${WORDS}`;
const body = (content: string) => JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content }] });

/** How long counting `content` in one go holds the event loop (ms): the fastest of three. */
function wholeCountMs(content: string): number {
  let fastest = Infinity;
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    tokenizerFor('gpt-4o-mini').count(content);
    fastest = Math.min(fastest, performance.now() - started);
  }
  return fastest;
}

/** Runs `work` and answers the longest the event loop was held meanwhile (ms). */
async function longestStall(work: () => Promise<void>): Promise<number> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  try {
    await work();
  } finally {
    delay.disable();
  }
  return delay.max / 1e6;
}

const chat = (token: string, content: string, signal?: AbortSignal) =>
  fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body(content), signal });

describe('a long prompt counted exactly', () => {
  // The longest stall of a call of the same prompt that needs no count (its bound fits a $5
  // budget): parsing, forwarding and the in-process upstream and client hold the loop for some of
  // the call in any case. A count in one go would add its whole time to that.
  let baseline = 0;
  let whole = 0;
  beforeAll(async () => {
    whole = wholeCountMs(WORDS); // also loads the ranks, outside the measured calls
    const { token } = await gw.openSession({ task: 'baseline', budget: { usd: 5 } });
    for (let i = 0; i < 2; i++) {
      baseline = Math.max(baseline, await longestStall(async () => {
        expect((await chat(token, prompt('ok'))).status).toBe(200);
      }));
    }
  });

  it('is held by its exact count, counted in slices', async () => {
    const { token, sessionId } = await gw.openSession({ task: 'long prompt', budget: { usd: 2 } });
    let status = 0;
    const stall = await longestStall(async () => {
      status = (await chat(token, prompt('ok'))).status;
    });
    // Its byte bound ($3) would not fit: only the exact count lets it through.
    expect(status).toBe(200);
    expect((await gw.session(sessionId)).spent.requests).toBe(1);
    expect(stall).toBeLessThan(baseline + whole / 2);
  });

  it('a cut call is charged its exact prompt, counted in slices', async () => {
    const content = prompt('never');
    const { token, sessionId } = await gw.openSession({ task: 'cut', budget: { usd: 2 } });
    const expected = countPromptTokens({ messages: [{ role: 'user', content }] }, tokenizerFor('gpt-4o-mini').count);
    let settled: { spent: { input_tokens: number } } | null = null;
    const stall = await longestStall(async () => {
      const cut = new AbortController();
      const sent = chat(token, content, cut.signal).catch(() => null);
      // Cut once the upstream has the request (it never answers).
      for (let i = 0; i < 100 && upstream.open() === 0; i++) await new Promise((r) => setTimeout(r, 20));
      cut.abort();
      await sent;
      for (let i = 0; i < 100; i++) {
        const s = await gw.session(sessionId);
        if (s.spent.requests === 1 && (s.reserved?.usd ?? 0) === 0) {
          settled = s;
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    expect(settled).not.toBeNull();
    expect(settled!.spent.input_tokens).toBe(expected);
    expect(stall).toBeLessThan(baseline + whole / 2);
  });

  it('its fingerprint, made in slices, matches the same prompt respaced and recased', async () => {
    const { token, sessionId } = await gw.openSession({ task: 'fingerprint', budget: { usd: 5 } });
    const requestIds: string[] = [];
    for (const content of [prompt('ok'), prompt('ok').toUpperCase().replaceAll(' ', '  '), `${prompt('ok')} and one word more`]) {
      const res = await chat(token, content);
      expect(res.status).toBe(200);
      requestIds.push(res.headers.get('x-request-id')!);
    }
    const res = await gw.admin('GET', `/admin/v1/audit/events?type=model.call&session=${sessionId}`);
    expect(res.status).toBe(200);
    // Each event is recorded once its fingerprint is made: not necessarily in the calls' order.
    const byRequest = new Map((res.body.data as { request_id: string; data: { prompt_fp?: string } }[]).map((e) => [e.request_id, e.data.prompt_fp]));
    const fps = requestIds.map((id) => byRequest.get(id));
    expect(fps[0]).toMatch(/^[0-9a-f]{16}$/);
    expect(fps[1]).toBe(fps[0]);
    expect(fps[2]).toMatch(/^[0-9a-f]{16}$/);
    expect(fps[2]).not.toBe(fps[0]);
  });
});
