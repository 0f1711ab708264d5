// The baseline Tollgate is measured against: the least a metering proxy must do. A keep-alive
// undici proxy that parses the JSON request, forwards it, reads the usage from the answer (the
// JSON body, or the stream's events as they pass), and logs one line per call with pino. What a
// gateway costs is what it adds over this.
import { createServer } from 'node:http';
import pino from 'pino';
import { Pool } from 'undici';

const upstream = process.argv[2]!;
const port = Number(process.argv[3] ?? 0);
const origin = new URL(upstream);
const pool = new Pool(origin.origin, { connections: 256, keepAliveTimeout: 60_000 });
const base = origin.pathname.replace(/\/+$/, '');
const log = pino();

interface Usage { prompt_tokens?: number; completion_tokens?: number }

/** The usage of a streamed answer: the last `"usage":{…}` object seen in its events. */
function usageInEvents(text: string): Usage | null {
  const at = text.lastIndexOf('"usage":{');
  if (at < 0) return null;
  const end = text.indexOf('}', at);
  try {
    return JSON.parse(text.slice(at + 8, end + 1)) as Usage;
  } catch {
    return null;
  }
}

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  const started = performance.now();
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString()) as { model?: string; stream?: boolean };
    pool
      .request({ method: 'POST', path: base + (req.url ?? '').replace(/^\/v1/, ''), headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      .then(async (up) => {
        res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/json') });
        let usage: Usage | null;
        if (body.stream === true) {
          let tail = '';
          for await (const chunk of up.body as AsyncIterable<Buffer>) {
            res.write(chunk);
            tail = (tail + chunk.toString()).slice(-4096);
          }
          usage = usageInEvents(tail);
          res.end();
        } else {
          const raw = Buffer.from(await up.body.arrayBuffer());
          usage = (JSON.parse(raw.toString()) as { usage?: Usage }).usage ?? null;
          res.end(raw);
        }
        log.info({ model: body.model, status: up.statusCode, input_tokens: usage?.prompt_tokens, output_tokens: usage?.completion_tokens, ms: performance.now() - started }, 'call');
      })
      .catch(() => {
        res.writeHead(502);
        res.end();
      });
  });
});
server.listen(port, '127.0.0.1', () => {
  const address = server.address() as { port: number };
  process.stdout.write(`listening ${address.port}\n`);
});
