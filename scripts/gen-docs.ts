// `npm run docs`: regenerates docs/reference/ from the code (config schema, admin route table, CLI
// program). test/docs/references.test.ts fails when a committed reference differs from this output.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REFERENCES } from './docs/index.js';

const root = join(import.meta.dirname, '..');
for (const ref of REFERENCES) {
  const file = join(root, ref.path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, ref.generate());
  process.stdout.write(`wrote ${ref.path}\n`);
}
