// A prompt's fingerprint: a keyed hash of its text, lowercased with whitespace runs collapsed, so
// a retry that differs only in spacing or case matches its original. Digits are kept: templated
// prompts that differ only in an id or a counter are different work, not a loop. Keyed
// (a secret derived from the master key, hashed in front of the text) so that a guessable prompt
// cannot be confirmed from the audit record; the same on every replica that shares the master
// key. One-shot `crypto.hash` rather than an HMAC object: it runs on every call (~3× cheaper), and
// a fingerprint needs preimage resistance, not a MAC's length-extension guarantees.
import { createHash, hash } from 'node:crypto';

export interface Fingerprinter {
  (promptText: string): string;
  /**
   * The same fingerprint, the text normalized and hashed in slices with the event loop free
   * between them: for a long prompt (~25 ms per MB in one go, twice that for text outside Latin-1).
   */
  inSlices(promptText: string): Promise<string>;
}

/**
 * Where collapsing whitespace runs to one space changes the text: a run of two or more, or a
 * lone whitespace character other than a space. The same result as replacing every `\s+`, but a
 * prose prompt has a single space between most words, and replacing each of those with another
 * cost ~5 µs per KiB (a 127 KB prompt: 1.4 ms of the event loop per call; 0.25 ms this way).
 */
const COLLAPSIBLE = /\s\s+|[^\S ]/g;

/**
 * A character a slice may end before or after with the same normalized text as a whole: a letter
 * or digit that is neither whitespace (runs collapse across it) nor case-ignorable (lowercasing
 * looks across those), and not Σ (its lowercase depends on what follows it). A lone surrogate
 * matches nothing: no slice splits a pair.
 */
const SLICE_EDGE = /[\p{Lu}\p{Ll}\p{Lt}\p{Lo}\p{Nd}]/u;
const isSliceEdge = (ch: string | undefined) => ch !== undefined && ch !== 'Σ' && SLICE_EDGE.test(ch);

/** `sliceChars`: about how long a slice is (shorter in tests). */
export function promptFingerprinter(key: Buffer, sliceChars = 64 * 1024): Fingerprinter {
  const secret = key.toString('hex');
  const normalized = (text: string) => text.replace(COLLAPSIBLE, ' ').toLowerCase();
  const fingerprint = (text: string) => hash('sha256', secret + normalized(text)).slice(0, 16);
  fingerprint.inSlices = async (text: string): Promise<string> => {
    const digest = createHash('sha256').update(secret);
    for (let start = 0; start < text.length;) {
      let end = Math.min(text.length, start + sliceChars);
      while (end < text.length && !(isSliceEdge(text[end - 1]) && isSliceEdge(text[end]))) end++;
      digest.update(normalized(text.slice(start, end)));
      start = end;
      if (start < text.length) await new Promise((resolve) => setImmediate(resolve));
    }
    return digest.digest('hex').slice(0, 16);
  };
  return fingerprint;
}
