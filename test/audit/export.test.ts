// Export sinks on their own: bounded queues that drop (and count) rather than block, order kept,
// retries with backoff, batches a receiver refuses for good dropped.
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { JsonlSink, WebhookSink, type LineTarget } from '../../src/audit/index.js';
import { linkEvents, GENESIS_HASH, type AuditEvent, type ChainedEvent } from '../../src/store/index.js';

function events(n: number, from = 1): ChainedEvent[] {
  const plain: AuditEvent[] = Array.from({ length: n }, (_, i) => ({
    id: `evt_${from + i}`, time: 1_700_000_000_000 + i, type: 'test.event', actor: 'system', requestId: null, agentId: null, sessionId: null, teamId: null, chain: null, data: { i: from + i },
  }));
  return linkEvents(plain, { lastSeq: from - 1, lastHash: GENESIS_HASH }).events;
}

/** A target that accepts `room` writes before it reports congestion, until drained. */
class SlowTarget extends EventEmitter implements LineTarget {
  written: string[] = [];
  constructor(private room: number) {
    super();
  }
  write(chunk: string): boolean {
    this.written.push(chunk);
    return --this.room > 0;
  }
  drain(room: number): void {
    this.room = room;
    this.emit('drain');
  }
}

const lines = (t: SlowTarget) => t.written.join('').trimEnd().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq);

describe('JSON lines sink', () => {
  it('writes one line per event in order, holds a bounded queue while the target is congested, and counts drops', async () => {
    const target = new SlowTarget(1);
    const sink = new JsonlSink(target, 'test', { maxQueue: 5 });
    sink.write(events(2)); // accepted, then the target is full
    sink.write(events(3, 3)); // queued
    sink.write(events(4, 6)); // 2 fit, 2 dropped
    sink.write(events(1, 10)); // dropped
    expect(lines(target)).toEqual([1, 2]);
    expect(sink.stats()).toEqual({ sent: 2, dropped: 3, queued: 5 });
    target.drain(100);
    expect(lines(target)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(sink.stats()).toEqual({ sent: 7, dropped: 3, queued: 0 });
    await sink.close(100);
  });
});

describe('webhook sink', () => {
  let server: Server | null = null;
  afterEach(async () => {
    server?.closeAllConnections();
    if (server) await new Promise((resolve) => server!.close(resolve));
    server = null;
  });

  async function receiver(handle: (body: { events: { seq: number }[] }, res: ServerResponse, req: IncomingMessage) => void): Promise<string> {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => handle(JSON.parse(body) as { events: { seq: number }[] }, res, req));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  }

  it('delivers in order, in batches, retrying 5xx with backoff', async () => {
    const got: number[][] = [];
    let n = 0;
    const url = await receiver((body, res) => {
      if (++n <= 2) return res.writeHead(500).end();
      got.push(body.events.map((e) => e.seq));
      res.writeHead(204).end();
    });
    const sink = new WebhookSink(url, { batchSize: 3, backoffMs: 20 });
    sink.write(events(5));
    sink.write(events(2, 6));
    await expect.poll(() => sink.stats().queued, { timeout: 3000 }).toBe(0);
    expect(got).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    expect(n).toBe(5);
    expect(sink.stats()).toEqual({ sent: 7, dropped: 0, queued: 0 });
    await sink.close(100);
  });

  it('never holds more than max_queue events: the rest are dropped and counted, and a refused batch is dropped', async () => {
    const waiting: ServerResponse[] = [];
    const url = await receiver((body, res) => {
      if (body.events[0]!.seq === 1) waiting.push(res); // the receiver hangs on the first batch
      else res.writeHead(400).end();
    });
    const sink = new WebhookSink(url, { batchSize: 2, maxQueue: 4 });
    const before = performance.now();
    sink.write(events(10));
    // write() returned at once, whatever the receiver does.
    expect(performance.now() - before).toBeLessThan(50);
    expect(sink.stats()).toEqual({ sent: 0, dropped: 6, queued: 4 });
    await expect.poll(() => waiting.length).toBe(1);
    waiting[0]!.writeHead(200).end();
    // Batch [1, 2] delivered; [3, 4] refused for good (400): dropped, not retried.
    await expect.poll(() => sink.stats(), { timeout: 3000 }).toEqual({ sent: 2, dropped: 8, queued: 0 });
    await sink.close(100);
  });

  it('drops what it cannot deliver by the close deadline', async () => {
    const url = await receiver((_body, res) => res.writeHead(503).end());
    const sink = new WebhookSink(url, { backoffMs: 10 });
    sink.write(events(3));
    const started = performance.now();
    await sink.close(300);
    expect(performance.now() - started).toBeLessThan(1500);
    expect(sink.stats()).toEqual({ sent: 0, dropped: 3, queued: 0 });
  });
});
