// Stage 3 — parse: read the body once (bounded), parse it once, and let the API adapter turn it
// into a canonical call.
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors/index.js';
import { promptTokensUpperBound } from '../providers/prompt-tokens.js';
import type { CallContext, PipelineDeps } from './context.js';

/** Reads a request body, refusing more than `limit` bytes (413) without buffering the excess. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  // A compressed body would be read as garbage JSON (and its size limit is of the compressed bytes).
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    return Promise.reject(new GatewayError('unsupported_media_type', `Content-Encoding "${encoding.slice(0, 40)}" is not supported: send the body uncompressed.`));
  }
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
    // The client went away (or was cut for being too slow) before the body was whole.
    req.once('error', (err) => reject(new GatewayError('bad_request', 'The request body was not received whole.', { cause: err })));
  });
}

/** Default of `server.max_json_depth`. */
export const MAX_JSON_DEPTH = 128;

/**
 * True when `raw` (JSON text) nests arrays and objects deeper than `max`. Checked on the bytes
 * before parsing: every later walk of the body (token counting, tool names, re-serialising it for
 * the upstream) recurses, and a body of a few MB can nest deep enough to overflow the stack.
 */
export function exceedsJsonDepth(raw: Buffer, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i]!;
    if (byte === 0x22) {
      // A string ends at the next quote not escaped — one after an even run of backslashes (a
      // backslash escapes the next byte). Found with indexOf: most of a large body is string
      // content, which a byte-by-byte walk took ~1.4 ns per byte over.
      let end = raw.indexOf(0x22, i + 1);
      while (end !== -1 && escapedAt(raw, end)) end = raw.indexOf(0x22, end + 1);
      if (end === -1) return false;
      i = end;
    } else if (byte === 0x5b || byte === 0x7b) {
      if (++depth > max) return true;
    } else if (byte === 0x5d || byte === 0x7d) depth--;
  }
  return false;
}

/** True when the byte at `at` follows an odd run of backslashes (the string's opening quote bounds the run). */
function escapedAt(raw: Buffer, at: number): boolean {
  let slashes = 0;
  while (raw[at - 1 - slashes] === 0x5c) slashes++;
  return slashes % 2 === 1;
}

/** Refuses a body nested deeper than `maxDepth` (400 `json_too_deep`). */
export function checkJsonDepth(raw: Buffer, maxDepth: number): void {
  if (exceedsJsonDepth(raw, maxDepth)) {
    throw new GatewayError('json_too_deep', `The request body nests arrays and objects more than ${maxDepth} deep.`);
  }
}

/** Parses a JSON object body; anything else is a 400 in the caller's dialect. */
export function parseJsonObject(raw: Buffer, maxDepth = MAX_JSON_DEPTH): Record<string, unknown> {
  checkJsonDepth(raw, maxDepth);
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
  return (ctx.promptUpperBound ??= promptTokensUpperBound(ctx.call!.prompt, ctx.route!.limits));
}

export async function parse(ctx: CallContext, deps: PipelineDeps): Promise<void> {
  const raw = await readBody(ctx.req, deps.bodyLimitBytes);
  ctx.body = parseJsonObject(raw, deps.maxJsonDepth);
  ctx.call = ctx.adapter.parse(ctx.body);
}
