// The baseline Tollgate is measured against: a bare keep-alive undici proxy that parses the JSON
// request, forwards it, parses the JSON answer for its usage, and logs nothing. What a gateway
// costs is what it adds over this.
import { createServer } from 'node:http';
import { Pool } from 'undici';

const upstream = process.argv[2]!;
const port = Number(process.argv[3] ?? 0);
const origin = new URL(upstream);
const pool = new Pool(origin.origin, { connections: 256, keepAliveTimeout: 60_000 });
const base = origin.pathname.replace(/\/+$/, '');

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>;
    pool
      .request({ method: 'POST', path: base + (req.url ?? '').replace(/^\/v1/, ''), headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      .then(async (up) => {
        const raw = Buffer.from(await up.body.arrayBuffer());
        if (body.stream !== true) JSON.parse(raw.toString()); // read the usage, as a metering proxy must
        res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/json') });
        res.end(raw);
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
