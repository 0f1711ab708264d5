// An OpenAI-style upstream that misbehaves on request: it picks its behaviour from a
// `[[hostile:MODE]]` marker in the request body, and keeps every request body it received (what
// the gateway really sent upstream). Modes:
//   garbage-json   200 application/json that is not JSON
//   garbage-sse    200 text/event-stream of random bytes, then the end
//   endless-sse    a well-formed chat stream that never ends (a chunk every 20 ms)
//   dribble-json   200 application/json, one byte every 100 ms, forever
//   never          accepts the request and never answers
//   escaped-tool   a chat stream whose tool call spells its keys with \u escapes
//   ok (default)   a short well-formed answer (plain or streamed) with usage
import { randomBytes } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HostileUpstream {
  url: string;
  /** Bodies received, parsed. */
  bodies: Record<string, any>[];
  /** Responses still being written (endless modes). */
  open(): number;
  close(): Promise<void>;
}

const chunk = (delta: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-h', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`;

const USAGE = { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 };

export async function startHostileUpstream(): Promise<HostileUpstream> {
  const bodies: Record<string, any>[] = [];
  const live = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const text = Buffer.concat(parts).toString('utf8');
      const body = (text ? JSON.parse(text) : {}) as Record<string, any>;
      bodies.push(body);
      const mode = /\[\[hostile:([a-z-]+)\]\]/.exec(text)?.[1] ?? 'ok';
      live.add(res);
      res.on('close', () => live.delete(res));
      const every = (ms: number, write: () => void) => {
        const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : write()), ms);
        res.on('close', () => clearInterval(timer));
      };
      switch (mode) {
        case 'garbage-json':
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"id": "x", "choices": [ <<not json>>');
          return;
        case 'garbage-sse':
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(chunk({ role: 'assistant', content: 'hi' }));
          res.write(randomBytes(2048));
          res.end('\n\ndata: {"usage": {broken\n\n');
          return;
        case 'endless-sse':
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(chunk({ role: 'assistant', content: '' }));
          every(20, () => res.write(chunk({ content: 'more ' })));
          return;
        case 'dribble-json':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{');
          every(100, () => res.write(' '));
          return;
        case 'never':
          return;
        case 'escaped-tool': {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(chunk({ role: 'assistant', content: null }));
          // {"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"danger_zone","arguments":""}}]}
          // with `tool_calls` and `name` written as JSON escapes: every parser reads the same call.
          const data = `{"id":"chatcmpl-h","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool\\u005fcalls":[{"index":0,"id":"call_1","type":"function","function":{"n\\u0061me":"danger_zone","arguments":"{}"}}]},"finish_reason":null}]}`;
          res.write(`data: ${data}\n\n`);
          res.write(chunk({}, { choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] }));
          res.write(`data: ${JSON.stringify({ id: 'chatcmpl-h', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: USAGE })}\n\n`);
          res.end('data: [DONE]\n\n');
          return;
        }
        default:
          if (body.stream) {
            res.writeHead(200, { 'content-type': 'text/event-stream' });
            res.write(chunk({ role: 'assistant', content: 'ok' }));
            res.write(`data: ${JSON.stringify({ id: 'chatcmpl-h', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: USAGE })}\n\n`);
            res.end('data: [DONE]\n\n');
          } else {
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
              id: 'chatcmpl-h', object: 'chat.completion', created: 1, model: 'm',
              choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: USAGE,
            }));
          }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    bodies,
    open: () => live.size,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Gateway config patch: `gpt-4o-mini` served by the hostile upstream, with tight limits for the abuse tests. */
export function hostileConfig(upstreamUrl: string, server: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    server: { log_requests: false, ...server },
    providers: [{ name: 'hostile', type: 'openai', base_url: `${upstreamUrl}/v1`, api_key_env: 'HOSTILE_KEY', timeout_ms: 1500 }],
    models: [{ name: 'gpt-4o-mini', provider: 'hostile', price: { input: 1, output: 2 } }],
    mcp_servers: [],
    profiles: [{ name: 'assistant', models: ['gpt-4o-mini'], tools: ['*', '!danger_*'], session_budget: { default: { usd: 5 }, max: { usd: 20 } } }],
  };
}

export const HOSTILE_ENV = { HOSTILE_KEY: 'sk-hostile-upstream-key' };
