// A small local HTTP server that replays a recorded upstream answer (JSON, or an SSE file sent
// as it is) and keeps every request it received exactly: method, URL with query, headers, body.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReplayedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface ReplayServer {
  url: string;
  requests: ReplayedRequest[];
  /** Answers the next request with the fixture file (`.json`: application/json; `.sse`: an event stream). */
  next(fixture: string, status?: number): void;
  close(): Promise<void>;
}

export const fixture = (name: string): string => new URL(`../fixtures/upstreams/${name}`, import.meta.url).pathname;

export async function startReplay(): Promise<ReplayServer> {
  const requests: ReplayedRequest[] = [];
  const queue: { file: string; status: number }[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: text ? JSON.parse(text) : undefined });
      const answer = queue.shift();
      if (!answer) {
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"no fixture queued"}}');
        return;
      }
      const body = readFileSync(answer.file);
      res.writeHead(answer.status, { 'content-type': answer.file.endsWith('.sse') ? 'text/event-stream' : 'application/json' });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    next(name, status = 200) {
      queue.push({ file: fixture(name), status });
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
