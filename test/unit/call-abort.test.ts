// CallAbort stands in for an AbortSignal as undici's request signal: aborting it must stop an
// upstream request in flight, with its reason, whether before the answer's headers or after.
import { createServer, type Server } from 'node:http';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallAbort } from '../../src/pipeline/call-abort.js';

let server: Server;
let pool: Pool;
let closed = 0;

beforeAll(async () => {
  // Answers /slow never; /drip sends its headers and one chunk, then nothing more.
  server = createServer((req, res) => {
    req.socket.on('close', () => closed++);
    if (req.url === '/drip') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  pool = new Pool(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
});

afterAll(async () => {
  await pool.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('CallAbort as an undici request signal', () => {
  it('aborts a request waiting for its headers, rejecting with the reason given', async () => {
    const abort = new CallAbort();
    const before = closed;
    const pending = pool.request({ method: 'GET', path: '/slow', signal: abort });
    setTimeout(() => abort.abort(new Error('cut by the gateway')), 50);
    await expect(pending).rejects.toThrow('cut by the gateway');
    expect(abort.aborted).toBe(true);
    await expect.poll(() => closed).toBeGreaterThan(before); // the upstream connection was closed
  });

  it('aborts a body being read; a second abort changes nothing', async () => {
    const abort = new CallAbort();
    const res = await pool.request({ method: 'GET', path: '/drip', signal: abort });
    const read = (async () => {
      for await (const _ of res.body) void _;
    })();
    abort.abort();
    abort.abort(new Error('later'));
    await expect(read).rejects.toThrow('The client closed the connection.');
    expect((abort.reason as Error).message).toBe('The client closed the connection.');
  });

  it('an already aborted signal stops the request before it is sent', async () => {
    const abort = new CallAbort();
    abort.abort(new Error('gone'));
    await expect(pool.request({ method: 'GET', path: '/slow', signal: abort })).rejects.toThrow('gone');
  });
});
