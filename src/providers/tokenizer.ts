// Token counting for reservations and for metering what was delivered when the upstream reports
// no usage (a cut stream). One real BPE tokenizer (o200k_base, the encoding of the GPT-4o and
// later OpenAI families) serves every model family: for others it is an estimate, which is why
// records counted this way are marked `estimated`.
import { countTokens as countO200k } from 'gpt-tokenizer/encoding/o200k_base';

/** Exact o200k_base token count of `text`. */
export function countTokens(text: string): number {
  if (text.length === 0) return 0;
  return countO200k(text);
}

/**
 * A cheap upper bound on the token count of `text` for any byte-level BPE tokenizer: every
 * token covers at least one UTF-8 byte. Used to reserve budget without tokenizing when the
 * bound fits comfortably; the exact count is taken only when it would matter.
 */
export function tokenUpperBound(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Tokens a chat template adds around each message (role markers, separators). */
export const TOKENS_PER_MESSAGE = 4;
/** Tokens added once per request (the assistant reply primer). */
export const TOKENS_PER_REQUEST = 3;
