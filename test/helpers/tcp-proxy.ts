// A TCP proxy in front of PostgreSQL, for the replica tests and bench/replicas.ts: it can be cut
// (every connection dropped, new ones refused) and resumed on the same port, and it counts round
// trips — the frontend messages that make the server answer (Sync ends an extended-protocol
// query, Query is a simple one).
import { createServer, Socket, type Server } from 'node:net';

export class TcpProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
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
      down.pipe(up);
      up.pipe(down);
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

  cut(): void {
    this.server?.close();
    this.server = null;
    for (const s of this.sockets) s.destroy();
  }
}
