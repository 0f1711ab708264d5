import { readFileSync } from 'node:fs';

/** Path of the shipped default configuration (the embedded SQLite + simulated provider set-up). */
export const DEFAULT_CONFIG_PATH = new URL('../../config/default.yaml', import.meta.url);

export function defaultConfigText(): string {
  return readFileSync(DEFAULT_CONFIG_PATH, 'utf8');
}
