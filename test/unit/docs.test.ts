// The docs are part of the contract: every error code and admin route must be documented.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS } from '../../src/errors/index.js';
import { ADMIN_ROUTES } from '../../src/server/index.js';

describe('documentation', () => {
  it('docs/errors.md lists every error code with its status', () => {
    const doc = readFileSync('docs/errors.md', 'utf8');
    for (const [code, spec] of Object.entries(ERRORS)) expect(doc).toContain(`| \`${code}\` | ${spec.status} |`);
  });

  it('docs/api.md lists every admin route', () => {
    const doc = readFileSync('docs/api.md', 'utf8');
    for (const r of ADMIN_ROUTES) expect(doc).toContain(`${r.method} ${r.path}`);
  });
});
