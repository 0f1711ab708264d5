// One convention for counting the prompt of a chat-style request, shared by the gateway (for
// reservations and for estimating usage of cut streams) and by the simulated provider (for the
// usage it reports), so the two agree to the token.
import { countTokens, tokenUpperBound, TOKENS_PER_MESSAGE, TOKENS_PER_REQUEST } from './tokenizer.js';

/**
 * The text a message part contributes: plain strings, `text` parts, tool-call arguments and
 * tool inputs (as JSON, or as given when a string), tool results (`content`, `output`). Images and other binary parts contribute nothing here.
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

/** Prompt tokens under the shared convention (exact for `count`'s tokenizer; o200k_base by default). */
export function countPromptTokens(parts: PromptParts, count: (text: string) => number = countTokens): number {
  let tokens = 0;
  const items = eachPromptText(parts, (text) => (tokens += count(text)));
  return tokens + items * TOKENS_PER_MESSAGE + TOKENS_PER_REQUEST;
}

/** A cheap upper bound on `countPromptTokens` (no tokenization). */
export function promptTokensUpperBound(parts: PromptParts): number {
  let bound = 0;
  const items = eachPromptText(parts, (text) => (bound += tokenUpperBound(text)));
  return bound + items * TOKENS_PER_MESSAGE + TOKENS_PER_REQUEST;
}
