// A TCP proxy in front of PostgreSQL, for the replica tests and bench/replicas.ts: it can be cut
// (every connection dropped, new ones refused) and resumed on the same port, or paused (a server
// that stops answering: connections stay open, nothing goes through), and it counts round
// trips — the frontend messages that make the server answer (Sync ends an extended-protocol
// query, Query is a simple one).
import { createServer, Socket, type Server } from 'node:net';

export class TcpProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  /** Pairs of (client, server) sockets, to stop and restart what flows between them. */
  private readonly pairs = new Set<[Socket, Socket]>();
  private paused = false;
  /** Round trips forwarded so far (Sync + Query messages). */
  roundTrips = 0;

  private constructor(
    private readonly host: string,
    private readonly upstreamPort: number,
    readonly port: number,
  ) {}

  /** A proxy to `upstream` (a postgres:// URL) on a free local port. */
  static async start(upstream: URL): Promise<TcpProxy> {
    const probe = createServer();
    const port = await new Promise<number>((r) => probe.listen(0, '127.0.0.1', () => r((probe.address() as { port: number }).port)));
    await new Promise((r) => probe.close(r));
    const proxy = new TcpProxy(upstream.hostname, Number(upstream.port || 5432), port);
    await proxy.resume();
    return proxy;
  }

  /** `url` with its host and port replaced by the proxy's. */
  via(url: string): string {
    const u = new URL(url);
    u.host = `127.0.0.1:${this.port}`;
    return u.toString();
  }

  async resume(): Promise<void> {
    const server = createServer((down) => {
      const up = new Socket();
      up.connect(this.upstreamPort, this.host);
      for (const s of [down, up]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          this.sockets.delete(s);
          down.destroy();
          up.destroy();
        });
      }
      down.on('data', this.counter());
      const pair: [Socket, Socket] = [down, up];
      this.pairs.add(pair);
      down.on('close', () => this.pairs.delete(pair));
      if (this.paused) this.stop(pair);
      else this.flow(pair);
    });
    await new Promise<void>((r) => server.listen(this.port, '127.0.0.1', () => r()));
    this.server = server;
  }

  /** Parses one client's message stream: an untyped startup message, then type + length frames. */
  private counter(): (chunk: Buffer) => void {
    let started = false;
    let pending: Buffer = Buffer.alloc(0);
    return (chunk) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      for (;;) {
        const header = started ? 5 : 4;
        if (pending.length < header) return;
        const length = started ? pending.readUInt32BE(1) + 1 : pending.readUInt32BE(0);
        if (pending.length < length) return;
        if (started) {
          const type = String.fromCharCode(pending[0]!);
          if (type === 'S' || type === 'Q') this.roundTrips++;
        }
        started = true;
        pending = pending.subarray(length);
      }
    };
  }

  private flow([down, up]: [Socket, Socket]): void {
    down.pipe(up);
    up.pipe(down);
    down.resume();
    up.resume();
  }

  private stop([down, up]: [Socket, Socket]): void {
    down.unpipe(up);
    up.unpipe(down);
    down.pause();
    up.pause();
  }

  /** The server stops answering: connections stay open (new ones too), and nothing goes through. */
  pause(): void {
    this.paused = true;
    for (const pair of this.pairs) this.stop(pair);
  }

  /** What was held goes through, and traffic flows again. */
  unpause(): void {
    this.paused = false;
    for (const pair of this.pairs) this.flow(pair);
  }

  cut(): void {
    this.server?.close();
    this.server = null;
    for (const s of this.sockets) s.destroy();
  }
}
