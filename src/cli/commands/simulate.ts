import { createSimulatedProvider } from '../../providers/simulated/index.js';
import { number } from '../client.js';

export async function simulate(opts: Record<string, unknown>): Promise<void> {
  const provider = await createSimulatedProvider({
    port: number(opts.port, '--port') ?? 9090,
    host: typeof opts.host === 'string' ? opts.host : '127.0.0.1',
    latencyMs: number(opts.latencyMs, '--latency-ms') ?? 0,
    tokensPerSecond: number(opts.tokensPerSecond, '--tokens-per-second') ?? 0,
    failureRate: number(opts.failureRate, '--failure-rate') ?? 0,
    apiKey: typeof opts.apiKey === 'string' ? opts.apiKey : undefined,
  });
  process.stdout.write(`simulated provider listening on ${provider.url} (OpenAI base ${provider.url}/v1, Anthropic base ${provider.url})\n`);
  const stop = () => void provider.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
