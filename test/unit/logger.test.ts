// The default logger's stdout destination: lines gather in memory and leave in batches, and none
// is lost — not at exit, not when `flush()` is asked for while the event loop is then busy.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const LOGGER = resolve('dist/util/logger.js');

/** Runs `body` (an ES module's code, `createLogger` imported) in a child; its stdout lines with their arrival times. */
function runLogging(body: string): Promise<{ lines: { at: number; line: Record<string, unknown> }[]; code: number | null }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', `import { createLogger } from ${JSON.stringify(LOGGER)};\n${body}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const started = performance.now();
  const lines: { at: number; line: Record<string, unknown> }[] = [];
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop()!;
    for (const p of parts) lines.push({ at: performance.now() - started, line: JSON.parse(p) as Record<string, unknown> });
  });
  return new Promise((done) => child.on('close', (code) => done({ lines, code })));
}

describe('logger (stdout)', () => {
  it('writes every line, in order, when the process exits right after logging', async () => {
    // ~60 KiB: several full batches, then a partial one that only the exit hook writes.
    const { lines, code } = await runLogging(`
      const log = createLogger('info');
      for (let i = 0; i < 300; i++) log.info({ i, pad: 'x'.repeat(150) }, 'line');
      process.exit(0);
    `);
    expect(code).toBe(0);
    expect(lines.map((l) => l.line.i)).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });

  it('writes a lone line within its flush interval while the process runs on', async () => {
    const { lines } = await runLogging(`
      const log = createLogger('info');
      log.info('alone');
      setTimeout(() => { log.info('last'); process.exit(0); }, 1500);
    `);
    expect(lines.map((l) => l.line.msg)).toEqual(['alone', 'last']);
    // Not held until exit: it left on the timer, long before the last line.
    expect(lines[1]!.at - lines[0]!.at).toBeGreaterThan(700);
  });

  it('flush() writes what is waiting at once, even if the event loop is then blocked', async () => {
    const { lines } = await runLogging(`
      const log = createLogger('info');
      log.info('before the block');
      log.flush();
      // The event loop is blocked for 1.5 s: no timer can fire, only the write already handed over goes out.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
      log.info('after the block');
      process.exit(0);
    `);
    expect(lines.map((l) => l.line.msg)).toEqual(['before the block', 'after the block']);
    expect(lines[1]!.at - lines[0]!.at).toBeGreaterThan(700);
  });
});
