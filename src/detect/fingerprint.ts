// A prompt's fingerprint: a keyed hash of its text with whitespace runs collapsed and digit runs
// replaced, so a retry that differs only in a timestamp or a counter matches its original. Keyed
// (HMAC with a key derived from the master key) so that a guessable prompt cannot be confirmed
// from the audit record; the same on every replica that shares the master key.
import { createHmac } from 'node:crypto';

export type Fingerprinter = (promptText: string) => string;

export function promptFingerprinter(key: Buffer): Fingerprinter {
  return (text) => createHmac('sha256', key).update(text.replace(/\s+/g, ' ').replace(/\d+/g, '#')).digest('hex').slice(0, 16);
}
