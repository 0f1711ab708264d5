// `tollgate demo`: starts the embedded gateway with the demo organisation and drives a minute of
// traffic through it (src/demo/workload.ts), then keeps serving so the dashboard, reports and
// alerts can be explored (Ctrl-C stops; --exit stops when the workload ends).
import { join, resolve } from 'node:path';
import { readAdminToken } from '../../identity/index.js';
import { preloadTokenizer } from '../../providers/tokenizer.js';
import { Gateway } from '../../server/index.js';
import { demoConfig, runDemo } from '../../demo/workload.js';
import { number } from '../client.js';

export async function demo(opts: Record<string, unknown>): Promise<void> {
  const config = demoConfig();
  config.logging.level = 'warn';
  const dataDirGiven = typeof opts.dataDir === 'string' ? opts.dataDir : '.tollgate-demo';
  const dataDir = resolve(dataDirGiven);
  const port = number(opts.port, '--port') ?? 8080;
  const seconds = number(opts.duration, '--duration') ?? 60;
  // Before it listens: the first exact token count would otherwise load the ranks under traffic.
  preloadTokenizer();
  const gateway = await Gateway.create({ config, dataDir });
  const url = await gateway.listen(port, config.server.host).catch(async (err: NodeJS.ErrnoException) => {
    await gateway.close(0);
    throw new Error(err.code === 'EADDRINUSE' ? `port ${port} is in use (is \`npm start\` running?): stop it, or pass --port` : err.message);
  });
  const say = (line: string) => process.stdout.write(`${line}\n`);
  say(`tollgate demo: gateway on ${url} (data in ${dataDir}); admin token in ${join(dataDir, 'admin-token')}`);
  // The CLI finds the admin token in the data dir it is given (the demo's, not `.tollgate`).
  const cli = `npx tollgate --url ${url} --data-dir ${dataDirGiven}`;
  say(`  dashboard: ${url}/ui   ·   alerts: ${cli} alerts   ·   spend: ${cli} report spend --group-by agent`);
  say(`driving ${seconds}s of traffic: an orchestrator with two sub-agents, MCP tools, a support agent that needs an approval, a coding agent in a retry loop…`);
  try {
    await runDemo({ url, adminToken: readAdminToken(dataDir)!, durationMs: seconds * 1000, autoApproveMs: opts.autoApprove === false ? 0 : (number(opts.autoApproveAfter, '--auto-approve-after') ?? 10) * 1000, say, cli });
  } catch (err) {
    await gateway.close(1000);
    throw err;
  }
  if (opts.exit) {
    await gateway.close(1000);
    return;
  }
  say(`workload done; the gateway keeps serving on ${url} — Ctrl-C to stop.`);
  await new Promise<void>((done) => process.once('SIGINT', () => void gateway.close(1000).then(done)));
}
