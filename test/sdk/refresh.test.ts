// `tollgate/sdk` (the built package: run `npm run build` first) against a `tollgate serve` whose
// tokens live 3 seconds: an idle session is kept fresh in the background; a token that can no
// longer be refreshed answers the official clients with the gateway's own refusal (a typed API
// error, not a connection error); a suspension longer than a token's life is survived.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServeProcess } from '../helpers/process.js';
import { startSdkGateway, type SdkGateway } from './helpers.js';

const sdk = await import('tollgate/sdk');
const { Tollgate, SessionEndedError, toTollgateError } = sdk;

const TTL_MS = 3_000;
/** Past a token's life (and the background refresh's first turn). */
const pastTheTtl = () => new Promise((r) => setTimeout(r, TTL_MS + 1_500));

let server: ServeProcess;
let admin: SdkGateway['admin'];
let credentials: SdkGateway['credentials'];

beforeAll(async () => {
  ({ server, admin, credentials } = await startSdkGateway('tollgate-sdk-refresh-', (config) => {
    config.tokens = { ttl_seconds: TTL_MS / 1000 };
    config.teams.push({ name: 'paused' });
    config.agents.push({ name: 'paused-agent', team: 'paused', profile: 'assistant' });
  }, ['demo-agent', 'paused-agent']));
});
afterAll(async () => {
  await server?.stop();
});

const tollgate = (agent = 'demo-agent') => new Tollgate({ baseUrl: server.url, ...credentials[agent], closeOnExit: false });
const ask = (openai: OpenAI, content = 'hello') => openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] });
const askClaude = (anthropic: Anthropic) => anthropic.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
const caught = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e);

describe('tollgate/sdk token refresh', () => {
  it('keeps an idle session\'s token fresh in the background: the openai and anthropic clients call again after idling past the token TTL', async () => {
    const session = await tollgate().openSession({ task: 'idle' });
    const openai = await session.openai<OpenAI>({ maxRetries: 0 });
    const anthropic = await session.anthropic<Anthropic>({ maxRetries: 0 });
    expect((await ask(openai)).choices).toHaveLength(1);
    const first = await session.token();
    await pastTheTtl();
    // No call asked for it: the token was refreshed ahead of its expiry.
    expect(await session.token()).not.toBe(first);
    expect((await ask(openai)).choices).toHaveLength(1);
    expect((await askClaude(anthropic)).usage.output_tokens).toBeGreaterThan(0);
    expect((await admin('GET', `/admin/v1/sessions/${session.id}`)).body.spent.requests).toBe(3);
    await session.close();
  });

  it('concurrent refreshes coalesce into one token exchange', async () => {
    const session = await tollgate().openSession({ task: 'many at once' });
    const before = await session.token();
    const tokens = await Promise.all([session.refresh(), session.refresh(), session.refresh(), session.refresh()]);
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).not.toBe(before);
    expect(await session.token()).toBe(tokens[0]);
    // Calls asking for the token while it is due (refreshAt 1: always) share one exchange too.
    const eager = await new Tollgate({ baseUrl: server.url, ...credentials['demo-agent'], closeOnExit: false, refreshAt: 1 }).openSession({ task: 'eager' });
    const first = await eager.token();
    const shared = await Promise.all([eager.token(), eager.token(), eager.refresh(), eager.token()]);
    expect(new Set(shared).size).toBe(1);
    expect(shared[0]).not.toBe(first);
    await Promise.all([session.close(), eager.close()]);
  });

  it('a session ended while idle past its TTL: the official clients raise their typed 401 (not a connection error) and toTollgateError says SessionEndedError', async () => {
    const session = await tollgate().openSession({ task: 'ended while idle' });
    const openai = await session.openai<OpenAI>({ maxRetries: 0 });
    const anthropic = await session.anthropic<Anthropic>({ maxRetries: 0 });
    expect((await admin('POST', `/admin/v1/sessions/${session.id}/revoke`, { reason: 'done with it' })).status).toBe(200);
    await pastTheTtl();
    const refused = await caught(ask(openai));
    expect(refused).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(refused).toMatchObject({ status: 401, code: 'session_inactive' });
    expect((refused as Error).message).toMatch(/The session is revoked/);
    const typed = toTollgateError(refused);
    expect(typed).toBeInstanceOf(SessionEndedError);
    expect(typed).toMatchObject({ code: 'session_inactive', status: 401 });
    const refusedClaude = await caught(askClaude(anthropic));
    expect(refusedClaude).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((refusedClaude as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'authentication_error', code: 'session_inactive' } });
    expect(toTollgateError(refusedClaude)).toBeInstanceOf(SessionEndedError);
    // run() rethrows it typed.
    await expect(session.run(() => ask(openai))).rejects.toBeInstanceOf(SessionEndedError);
  });

  it('a team suspended past the TTL: a 403 PermissionDeniedError with team_suspended (SessionEndedError); opening a session meanwhile is a SessionEndedError too', async () => {
    const session = await tollgate('paused-agent').openSession({ task: 'team paused' });
    const openai = await session.openai<OpenAI>({ maxRetries: 0 });
    const anthropic = await session.anthropic<Anthropic>({ maxRetries: 0 });
    expect((await admin('POST', '/admin/v1/teams/paused/suspend', { reason: 'runaway spend' })).status).toBe(200);
    try {
      // The token endpoint refuses a new session for the team: typed by its Tollgate code.
      const opening = await caught(tollgate('paused-agent').openSession({ task: 'during the suspension' }));
      expect(opening).toBeInstanceOf(SessionEndedError);
      expect(opening).toMatchObject({ code: 'team_suspended', status: 400, details: { oauth_error: 'unauthorized_client' } });
      await pastTheTtl();
      const refused = await caught(ask(openai));
      expect(refused).toBeInstanceOf(OpenAI.PermissionDeniedError);
      expect(refused).toMatchObject({ status: 403, code: 'team_suspended' });
      expect(toTollgateError(refused)).toBeInstanceOf(SessionEndedError);
      const refusedClaude = await caught(askClaude(anthropic));
      expect(refusedClaude).toBeInstanceOf(Anthropic.PermissionDeniedError);
      expect(toTollgateError(refusedClaude)).toMatchObject({ code: 'team_suspended' });
    } finally {
      await admin('POST', '/admin/v1/teams/paused/resume', {});
    }
    // Resumed: a new session works again (the old one's token expired meanwhile).
    const again = await tollgate('paused-agent').openSession({ task: 'after the suspension' });
    expect((await ask(await again.openai<OpenAI>({ maxRetries: 0 }))).choices).toHaveLength(1);
    await again.close();
  });

  it('run() gets past a session suspension longer than the token TTL: resumed, the call goes through', async () => {
    const session = await tollgate().openSession({ task: 'contained for a while' });
    const openai = await session.openai<OpenAI>({ maxRetries: 0 });
    const { approval_id } = (await admin('POST', `/admin/v1/sessions/${session.id}/suspend`, { reason: 'looking into it' })).body;
    // A suspended session may refresh its token (the token endpoint lets a refresh through).
    expect(await caught(session.refresh())).toBeNull();
    const running = session.run(() => ask(openai, 'after the suspension'));
    await pastTheTtl();
    expect((await admin('POST', `/admin/v1/sessions/${session.id}/resume`, { reason: 'all clear' })).body).toMatchObject({ status: 'active', approval_id });
    expect((await running).choices).toHaveLength(1);
    expect((await admin('GET', `/admin/v1/sessions/${session.id}`)).body.spent.requests).toBe(1);
    await session.close();
  }, 20_000);
});
