// One convention for counting the prompt of a chat-style request, shared by the gateway (for
// reservations and for estimating usage of cut streams) and by the simulated provider (for the
// usage it reports), so the two agree to the token.
import { countTokens, tokenUpperBound, TOKENS_PER_MESSAGE, TOKENS_PER_REQUEST } from './tokenizer.js';

/**
 * The text a message part contributes: plain strings, `text` parts, tool-call arguments and
 * tool inputs (as JSON, or as given when a string), tool results (`content`, `output`), and the
 * text of Anthropic's text documents. Images, audio and files are not text: `mediaIn` counts them.
 */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    let out = '';
    for (const part of content) out += contentText(part);
    return out;
  }
  if (content !== null && typeof content === 'object') {
    const part = content as Record<string, unknown>;
    let out = '';
    if (typeof part.text === 'string') out += part.text;
    if (part.content !== undefined) out += contentText(part.content);
    if (typeof part.arguments === 'string') out += part.arguments;
    // Tool results in the Responses API (`function_call_output`) and custom tool inputs.
    if (typeof part.output === 'string') out += part.output;
    if (typeof part.input === 'string') out += part.input;
    if (part.input !== undefined && typeof part.input === 'object') out += JSON.stringify(part.input);
    if (part.function !== undefined) out += contentText(part.function);
    if (Array.isArray(part.tool_calls)) out += contentText(part.tool_calls);
    // Anthropic's documents given as text (`source.type: text`) or as content blocks.
    if (part.type === 'document' && part.source !== null && typeof part.source === 'object') {
      const source = part.source as Record<string, unknown>;
      if (source.type === 'text' && typeof source.data === 'string') out += source.data;
      if (source.type === 'content') out += contentText(source.content);
    }
    return out;
  }
  return '';
}

export interface PromptParts {
  /** System prompt given outside the message list (Anthropic's `system`). */
  system?: unknown;
  /** The message list (each with a `content`, and maybe `tool_calls`). */
  messages: unknown[];
  /** Tool definitions offered to the model; counted as their JSON text. */
  tools?: unknown[];
}

/**
 * Parts of a prompt that are not text. An image's tokens depend on its size and the model
 * (OpenAI: tiles or patches of it; Anthropic: its area), a PDF's or a recording's on what is in
 * it — none can be counted from the request without decoding the media.
 */
export interface MediaCount {
  /** `image_url` (OpenAI chat), `input_image` (Responses), `image` (Anthropic). */
  images: number;
  /** Files, PDFs and audio: `file`, `input_file`, `input_audio`, Anthropic's `document` (but text documents). */
  unsized: number;
}

const IMAGE_PARTS = new Set(['image_url', 'input_image', 'image']);
const UNSIZED_PARTS = new Set(['file', 'input_file', 'input_audio', 'document']);

/** Adds the media parts of `content` (a message, a list of parts, a tool result) to `into`. */
export function mediaIn(content: unknown, into: MediaCount): MediaCount {
  if (Array.isArray(content)) {
    for (const part of content) mediaIn(part, into);
  } else if (content !== null && typeof content === 'object') {
    const part = content as Record<string, unknown>;
    if (typeof part.type === 'string') {
      if (IMAGE_PARTS.has(part.type)) into.images++;
      else if (UNSIZED_PARTS.has(part.type) && !isTextDocument(part)) into.unsized++;
    }
    // Images inside a tool result (Anthropic's `tool_result` content, the Responses API's `output` list).
    if (typeof part.content === 'object') mediaIn(part.content, into);
    if (Array.isArray(part.output)) mediaIn(part.output, into);
  }
  return into;
}

function isTextDocument(part: Record<string, unknown>): boolean {
  const type = (part.source as { type?: unknown } | null | undefined)?.type;
  return part.type === 'document' && (type === 'text' || type === 'content');
}

/**
 * What the shared convention counts for a media part (the simulated provider reports it, the
 * gateway estimates a cut stream's prompt with it): an image as 765 tokens (a 1024 × 1024 image
 * in OpenAI's tile count at high detail), anything else as 1,500.
 */
export const IMAGE_TOKENS = 765;
export const UNSIZED_MEDIA_TOKENS = 1500;

/**
 * The most one image can cost at the providers Tollgate speaks to (2026): OpenAI ≤ ~3,800 (1,536
 * patches at its dearest multiplier; ≤ 1,445 by tiles), Anthropic ≤ ~1,600 (an image is scaled to
 * ≤ 1.15 megapixels), Gemini ≤ 1,120 per image at its highest media resolution. A model's
 * `max_image_tokens` overrides it.
 */
export const MAX_IMAGE_TOKENS = 4096;

/** Bounds for `promptTokensUpperBound`: what the model can take, and what one image can cost it. */
export interface PromptLimits {
  /** Tokens of the model's context window: no prompt is billed more (a longer one is refused). */
  contextWindow: number;
  maxImageTokens: number;
}

function eachPromptText(parts: PromptParts, visit: (text: string) => void): number {
  let items = 0;
  if (parts.system !== undefined) {
    visit(contentText(parts.system));
    items++;
  }
  for (const message of parts.messages) {
    visit(contentText(message));
    items++;
  }
  if (parts.tools !== undefined && parts.tools.length > 0) visit(JSON.stringify(parts.tools));
  return items;
}

function textTokens(parts: PromptParts, count: (text: string) => number): number {
  let tokens = 0;
  const items = eachPromptText(parts, (text) => (tokens += count(text)));
  return tokens + items * TOKENS_PER_MESSAGE + TOKENS_PER_REQUEST;
}

function mediaOf(parts: PromptParts): MediaCount {
  return mediaIn(parts.messages, { images: 0, unsized: 0 });
}

/**
 * Prompt tokens under the shared convention: the text exact for `count`'s tokenizer (o200k_base
 * by default), media parts as `IMAGE_TOKENS` and `UNSIZED_MEDIA_TOKENS` each.
 */
export function countPromptTokens(parts: PromptParts, count: (text: string) => number = countTokens): number {
  const media = mediaOf(parts);
  return textTokens(parts, count) + media.images * IMAGE_TOKENS + media.unsized * UNSIZED_MEDIA_TOKENS;
}

/**
 * The most the prompt can be billed, for holds: its text counted by `count` (by default a cheap
 * upper bound, no tokenization), each image at its most, and — when it carries a file, a PDF or
 * audio, whose tokens nothing here can bound — the whole context window. Never past the window.
 */
export function promptTokensUpperBound(parts: PromptParts, limits: PromptLimits, count: (text: string) => number = tokenUpperBound): number {
  const media = mediaOf(parts);
  if (media.unsized > 0) return limits.contextWindow;
  return Math.min(limits.contextWindow, textTokens(parts, count) + media.images * limits.maxImageTokens);
}
