// One convention for counting the prompt of a chat-style request, shared by the gateway (for
// reservations and for estimating usage of cut streams) and by the simulated provider (for the
// usage it reports), so the two agree to the token.
import { countTokens, SYNC_COUNT_CHARS, tokenUpperBound, TOKENS_PER_MESSAGE, TOKENS_PER_REQUEST, type Tokenizer } from './tokenizer.js';

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
    // Tool results in the Responses API (`function_call_output`: text, or a list of parts) and custom tool inputs.
    if (typeof part.output === 'string') out += part.output;
    else if (Array.isArray(part.output)) out += contentText(part.output);
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
  /**
   * The provider adds context the request does not carry (the Responses API's
   * `previous_response_id`, `conversation`, a stored `prompt`): billed, but not countable here.
   */
  storedContext?: boolean;
  /** Tool definitions offered to the model; counted as their JSON text. */
  tools?: unknown[];
}

/**
 * Parts of a prompt that are not text. An image's tokens depend on its size and the model
 * (OpenAI: tiles or patches of it; Anthropic: its area), a PDF's or a recording's on what is in
 * it — none can be counted from the request without decoding the media.
 */
export interface MediaCount {
  /** `image_url` (OpenAI chat), `input_image` and `computer_screenshot` (Responses), `image` (Anthropic). */
  images: number;
  /**
   * Files, PDFs and audio: `file`, `input_file`, `input_audio`, Anthropic's `document` (but text
   * documents), an earlier audio answer (`audio: {id}` on an assistant message).
   */
  unsized: number;
}

const IMAGE_PARTS = new Set(['image_url', 'input_image', 'image', 'computer_screenshot']);
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
    // An assistant's earlier audio answer is sent back by id and billed as audio input.
    if (part.audio !== null && typeof part.audio === 'object') into.unsized++;
    // Media inside a tool result (Anthropic's `tool_result` content, the Responses API's `output`,
    // a list or one screenshot) and inside a document given as content blocks.
    if (typeof part.content === 'object') mediaIn(part.content, into);
    if (typeof part.output === 'object') mediaIn(part.output, into);
    if (part.type === 'document' && typeof part.source === 'object' && part.source !== null) mediaIn((part.source as { content?: unknown }).content, into);
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
 * The most one image can cost, by model: OpenAI's `gpt-4o-mini` counts an image as 2,833 tokens
 * plus 5,667 per 512-pixel tile (priced like gpt-4o's), up to 48,169 for the 8 tiles of a
 * 2048 × 768 image at high detail; elsewhere (2026) OpenAI ≤ ~3,800 (1,536 patches at its dearest
 * multiplier; ≤ 1,445 by tiles), Anthropic ≤ ~1,600 (an image is scaled to ≤ 1.15 megapixels),
 * Gemini ≤ ~4,100 (16 tiles of 258 for a 3,072-pixel image). A model's `max_image_tokens` overrides it.
 */
export function defaultMaxImageTokens(model: string): number {
  return /(^|\/)gpt-4o-mini/.test(model) ? 48_200 : 8_192;
}

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

/** True when the prompt carries what only the provider can count: media, or context it keeps. */
export function hasUncountedInput(parts: PromptParts): boolean {
  const media = mediaOf(parts);
  return media.images + media.unsized > 0 || parts.storedContext === true;
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
 * A count for the texts of `parts` (as `countPromptTokens` and `promptTokensUpperBound` take it):
 * when they are long together — past SYNC_COUNT_CHARS, in one text or in many — counted ahead by
 * `tokenizer.countEach`, in slices, so that the synchronous count that follows finds them counted
 * and holds the event loop for none of them.
 */
export async function countingAhead(parts: PromptParts, tokenizer: Tokenizer): Promise<(text: string) => number> {
  const texts: string[] = [];
  let chars = 0;
  eachPromptText(parts, (text) => {
    texts.push(text);
    chars += text.length;
  });
  if (chars <= SYNC_COUNT_CHARS) return tokenizer.count;
  const counts = await tokenizer.countEach(texts);
  const counted = new Map<string, number>(texts.map((text, i) => [text, counts[i]!]));
  return (text) => counted.get(text) ?? tokenizer.count(text);
}

/**
 * The most the prompt can be billed, for holds: its text counted by `count` (by default a cheap
 * upper bound, no tokenization) and each image at its most — and, when it carries a file, a PDF or
 * audio, or context the provider keeps (`storedContext`), whose tokens nothing here can bound, at
 * least the whole context window. (Text is not capped by the window: a request can raise it, as
 * Anthropic's 1M-context beta does, and an embeddings window is per input.)
 */
export function promptTokensUpperBound(parts: PromptParts, limits: PromptLimits, count: (text: string) => number = tokenUpperBound): number {
  const media = mediaOf(parts);
  const known = textTokens(parts, count) + media.images * limits.maxImageTokens;
  return media.unsized > 0 || parts.storedContext ? Math.max(known, limits.contextWindow) : known;
}
