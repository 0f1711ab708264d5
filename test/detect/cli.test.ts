// `tollgate alerts` and `tollgate session suspend|resume` (the built CLI, run `npm run build`
// first) against a gateway holding a real alert.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN } from '../helpers/gateway.js';
import { cliRunner } from '../helpers/process.js';
import { chat, startDetectGateway, type DetectGateway } from './helpers.js';

let gw: DetectGateway;
let cli: ReturnType<typeof cliRunner>;
beforeAll(async () => {
  gw = await startDetectGateway();
  cli = cliRunner(gw.url, gw.dataDir, { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN });
});
afterAll(async () => {
  await gw.close();
});

describe('tollgate alerts', () => {
  it('lists open alerts, shows one with its evidence, acknowledges and resolves it', async () => {
    const { openai, sessionId } = await gw.client();
    for (let i = 0; i < 4; i++) {
      await chat(openai, 'Same failing call [[sim:error=400]]').catch(() => undefined);
      await gw.settled();
    }
    const table = (await cli('alerts')).stdout;
    expect(table).toMatch(/^ID +SEVERITY +STATUS +DETECTOR +AGENT +TRIAGE/);
    expect(table).toMatch(/critical +open +retry_loop +demo-agent +prompt_loop/);
    const [listed] = JSON.parse((await cli('alerts', '--json', '--detector', 'retry_loop')).stdout);
    const shown = (await cli('alerts', 'show', listed.id)).stdout;
    expect(shown).toMatch(new RegExp(`^session: +${sessionId}$`, 'm'));
    expect(shown).toMatch(/action suspend_session: .*approval_id/);
    expect(shown).toMatch(/ {2}failed: +4/);
    expect((await cli('alerts', 'ack', listed.id, '--reason', 'on it')).stdout).toMatch(/status: +acknowledged/);
    expect((await cli('alerts', 'list', '--status', 'acknowledged')).stdout).toContain(listed.id);
    expect((await cli('alerts', 'resolve', listed.id)).stdout).toMatch(/resolved by: +admin/);
    expect((await cli('alerts')).stdout).toBe('(none)\n');
    expect((await cli('alerts', '--all')).stdout).toContain(listed.id);
    // The suspended session: resumed from the CLI.
    expect((await cli('session', 'resume', sessionId)).stdout).toBe(`${sessionId}: active\n`);
  });

  it('suspends a session from the CLI', async () => {
    const { sessionId } = await gw.client();
    const out = (await cli('session', 'suspend', sessionId, '--reason', 'odd traffic')).stdout;
    expect(out).toMatch(new RegExp(`^suspended: ${sessionId}\\nresume approval: apr_`));
    expect((await gw.session(sessionId)).status).toBe('suspended');
  });
});
