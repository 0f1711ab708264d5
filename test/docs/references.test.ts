// The generated references in docs/reference/ must be what the code says today: each is
// regenerated in memory and compared with the committed file.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { configRows } from '../../scripts/docs/configuration.js';
import { REFERENCES } from '../../scripts/docs/index.js';
import { program } from '../../src/cli/main.js';
import { ADMIN_ROUTES } from '../../src/server/index.js';

const root = join(import.meta.dirname, '..', '..');

describe('docs/reference', () => {
  for (const ref of REFERENCES) {
    it(`${ref.path} is up to date`, () => {
      const committed = readFileSync(join(root, ref.path), 'utf8');
      const fresh = ref.generate();
      // One clear instruction instead of a diff of a few hundred lines.
      expect(committed === fresh, `${ref.path} is stale: run \`npm run docs\` and commit the result`).toBe(true);
    });
  }

  it('every configuration key has a meaning (a .describe() in src/config/schema.ts)', () => {
    expect(configRows().filter((r) => r.description === '').map((r) => r.key)).toEqual([]);
  });

  it('the configuration reference names each key with its type and default', () => {
    const text = REFERENCES.find((r) => r.path.endsWith('configuration.md'))!.generate();
    expect(text).toContain('| `server.port` | integer 0–65535 | `8080` |');
    expect(text).toContain('| `providers[].name` | string | **required** |');
    expect(text).toContain('| `detection.detectors.retry_loop.actions.critical` | list of: `notify`, `throttle_session`, `suspend_session`, `suspend_agent`, `revoke_agent` | `[notify, suspend_session]` |');
    expect(text).toContain('| `mcp_servers[].tools.<name>.approval` | boolean | `false` |');
  });

  it('the admin API reference has every route of the route table', () => {
    const text = REFERENCES.find((r) => r.path.endsWith('admin-api.md'))!.generate();
    for (const route of ADMIN_ROUTES) expect(text).toContain(`### \`${route.method} ${route.path}\``);
  });

  it('every CLI command, argument and option has a description, and the reference has every command', () => {
    const text = REFERENCES.find((r) => r.path.endsWith('cli.md'))!.generate();
    const missing: string[] = [];
    const walk = (cmd: Command, name: string) => {
      for (const sub of cmd.commands) {
        const full = `${name} ${sub.name()}`;
        expect(text).toContain(`## \`${full}\``);
        if (!sub.description()) missing.push(full);
        for (const a of sub.registeredArguments) if (!a.description) missing.push(`${full} <${a.name()}>`);
        for (const o of sub.options) if (!o.description) missing.push(`${full} ${o.flags}`);
        walk(sub, full);
      }
    };
    walk(program, 'tollgate');
    expect(missing).toEqual([]);
  });
});
