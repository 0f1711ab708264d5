// The generated references: each a file under docs/reference/ and the function that writes it.
import { ADMIN_API_REFERENCE, adminApiReference } from './admin-api.js';
import { CLI_REFERENCE, cliReference } from './cli.js';
import { CONFIG_REFERENCE, configurationReference } from './configuration.js';

export interface Reference {
  /** Relative to the repository root. */
  path: string;
  generate(): string;
}

export const REFERENCES: readonly Reference[] = [
  { path: CONFIG_REFERENCE, generate: configurationReference },
  { path: ADMIN_API_REFERENCE, generate: adminApiReference },
  { path: CLI_REFERENCE, generate: cliReference },
];
