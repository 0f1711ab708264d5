// Stage 3 — parse: read the body once (bounded), parse it once, and let the API adapter turn it
// into a canonical call.
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors/index.js';
import { promptTokensUpperBound } from '../providers/prompt-tokens.js';
import type { CallContext, PipelineDeps } from './context.js';

/** Reads a request body, refusing more than `limit` bytes (413) without buffering the excess. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.reject(new GatewayError('body_too_large', `The request body is larger than ${limit} bytes.`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new GatewayError('body_too_large', `The request body is larger than ${limit} bytes.`));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}

/** Parses a JSON object body; anything else is a 400 in the caller's dialect. */
export function parseJsonObject(raw: Buffer): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new GatewayError('invalid_json', `The request body is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new GatewayError('invalid_request', 'The request body must be a JSON object.');
  }
  return parsed as Record<string, unknown>;
}

/**
 * The prompt's cheap token upper bound, computed once per call (policy, rate limits and reserve
 * all need it). Reset when the call is re-parsed.
 */
export function promptUpperBound(ctx: CallContext): number {
  return (ctx.promptUpperBound ??= promptTokensUpperBound(ctx.call!.prompt));
}

export async function parse(ctx: CallContext, deps: PipelineDeps): Promise<void> {
  const raw = await readBody(ctx.req, deps.bodyLimitBytes);
  ctx.body = parseJsonObject(raw);
  ctx.call = ctx.adapter.parse(ctx.body);
}
