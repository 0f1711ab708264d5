// A call's upstream request (pipeline/upstream-call.ts) on undici's dispatch interface: the answer's
// head, its body read whole or as it arrives, backpressure on a body read slowly, and a CallAbort
// that stops the request in flight — before the headers or during the body — with its reason.
import { createServer, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallAbort } from '../../src/pipeline/call-abort.js';
import { callUpstream, UpstreamBody } from '../../src/pipeline/upstream-call.js';

let server: Server;
let pool: Pool;
let closed = 0;
/** Bytes /flood could not hand to the socket at once (its writes that returned false). */
let floodBlocked = 0;

const BIG = 4 * 1024 * 1024;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.socket.on('close', () => closed++);
    if (req.url === '/json') {
      res.writeHead(200, { 'content-type': 'application/json', 'retry-after': '7' });
      res.end('{"ok":true}');
    } else if (req.url === '/drip') {
      // Its headers and one chunk, then nothing more.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first');
    } else if (req.url === '/chunks') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let i = 0;
      const next = () => (i < 5 ? (res.write(`event ${i++}\n`), setTimeout(next, 5)) : res.end());
      next();
    } else if (req.url === '/flood') {
      // 4 MiB in 64 KiB writes, each after the last drained: counts the writes that had to wait.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      let sent = 0;
      const pump = () => {
        while (sent < BIG) {
          sent += chunk.length;
          if (!res.write(chunk)) {
            floodBlocked++;
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    } else if (req.url === '/broken') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
      res.write('partial');
      setTimeout(() => req.socket.destroy(), 20);
    }
    // /slow: never answers
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  pool = new Pool(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
});

afterAll(async () => {
  await pool.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const get = (path: string, signal = new CallAbort()) => callUpstream(pool, { method: 'GET', path }, signal);

describe('callUpstream', () => {
  it('resolves with the status and headers, and reads a body whole', async () => {
    const answer = await get('/json');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(answer.headers['retry-after']).toBe('7');
    const read = await answer.body.read(1024);
    expect(read).toEqual({ data: Buffer.from('{"ok":true}'), truncated: false });
  });

  it('reads at most the cap, says it was cut, and stops the upstream request', async () => {
    const before = closed;
    const answer = await get('/flood');
    const read = await answer.body.read(100_000);
    expect(read.truncated).toBe(true);
    expect(read.data.length).toBe(100_000);
    expect(read.data.every((b) => b === 0x78)).toBe(true);
    await expect.poll(() => closed).toBeGreaterThan(before); // aborted: the connection was closed
  });

  it('iterates a body as it arrives, in order', async () => {
    const answer = await get('/chunks');
    const seen: string[] = [];
    for await (const chunk of answer.body) seen.push(chunk.toString());
    expect(seen.length).toBeGreaterThan(1); // the chunks came one by one, not all at the end
    expect(seen.join('')).toBe('event 0\nevent 1\nevent 2\nevent 3\nevent 4\n');
  });

  it('pauses the upstream while a body is read slowly, and loses nothing', async () => {
    floodBlocked = 0;
    const answer = await get('/flood');
    let size = 0;
    let largest = 0;
    for await (const chunk of answer.body) {
      size += chunk.length;
      largest = Math.max(largest, chunk.length);
      await sleep(2);
    }
    expect(size).toBe(BIG);
    // Backpressure: the upstream had to wait for the reader, and the reader never held much more
    // than the high-water mark (64 KiB) plus what the socket had in hand.
    expect(floodBlocked).toBeGreaterThan(0);
    expect(largest).toBeLessThan(1024 * 1024);
  });

  it('leaving a for-await early stops the upstream request', async () => {
    const before = closed;
    const answer = await get('/drip');
    for await (const chunk of answer.body) {
      expect(chunk.toString()).toBe('first');
      break;
    }
    await expect.poll(() => closed).toBeGreaterThan(before);
  });

  it('a body that breaks off gives what arrived, then its error', async () => {
    const answer = await get('/broken');
    const seen: string[] = [];
    await expect((async () => {
      for await (const chunk of answer.body) seen.push(chunk.toString());
    })()).rejects.toThrow();
    expect(seen.join('')).toBe('partial');
    await expect((await get('/broken')).body.read(1024)).rejects.toThrow();
  });

  it('an unreachable upstream rejects the call', async () => {
    const nowhere = new Pool('http://127.0.0.1:1');
    await expect(callUpstream(nowhere, { method: 'GET', path: '/' }, new CallAbort())).rejects.toThrow();
    await nowhere.destroy();
  });

  it('a body already read reads back (an error body kept for a fallback)', async () => {
    const body = UpstreamBody.of(Buffer.from('kept'));
    expect(await body.read(10)).toEqual({ data: Buffer.from('kept'), truncated: false });
    const chunks: Buffer[] = [];
    for await (const c of UpstreamBody.of(Buffer.from('again'))) chunks.push(c);
    expect(Buffer.concat(chunks).toString()).toBe('again');
  });
});

describe('CallAbort stops the upstream request', () => {
  it('while it waits for its headers, rejecting with the reason given', async () => {
    const abort = new CallAbort();
    const before = closed;
    const pending = get('/slow', abort);
    setTimeout(() => abort.abort(new Error('cut by the gateway')), 50);
    await expect(pending).rejects.toThrow('cut by the gateway');
    expect(abort.aborted).toBe(true);
    await expect.poll(() => closed).toBeGreaterThan(before); // the upstream connection was closed
  });

  it('while its body is read; a second abort changes nothing', async () => {
    const abort = new CallAbort();
    const answer = await get('/drip', abort);
    const read = (async () => {
      for await (const _ of answer.body) void _;
    })();
    await sleep(20);
    abort.abort();
    abort.abort(new Error('later'));
    await expect(read).rejects.toThrow('The client closed the connection.');
    expect(abort.reason?.message).toBe('The client closed the connection.');
  });

  it('before it is sent, when already aborted', async () => {
    const abort = new CallAbort();
    abort.abort(new Error('gone'));
    await expect(get('/slow', abort)).rejects.toThrow('gone');
  });
});
