// A prompt's fingerprint: a keyed hash of its text with whitespace runs collapsed and digit runs
// replaced, so a retry that differs only in a timestamp or a counter matches its original. Keyed
// (a secret derived from the master key, hashed in front of the text) so that a guessable prompt
// cannot be confirmed from the audit record; the same on every replica that shares the master
// key. One-shot `crypto.hash` rather than an HMAC object: it runs on every call (~3× cheaper), and
// a fingerprint needs preimage resistance, not a MAC's length-extension guarantees.
import { hash } from 'node:crypto';

export type Fingerprinter = (promptText: string) => string;

export function promptFingerprinter(key: Buffer): Fingerprinter {
  const secret = key.toString('hex');
  return (text) => hash('sha256', secret + text.replace(/\s+/g, ' ').replace(/\d+/g, '#')).slice(0, 16);
}
