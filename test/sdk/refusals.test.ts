// `tollgate/sdk` (the built package: run `npm run build` first) with a stand-in for the gateway:
// when a session's token has expired and its refresh is refused, each official client (openai,
// @anthropic-ai/sdk, the MCP client) and the agent API get the refusal in their API's own error
// shape — a typed API error, never a network error — and toTollgateError maps it.
import Anthropic from '@anthropic-ai/sdk';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';

const sdk = await import('tollgate/sdk');
const { Tollgate, SessionEndedError, ApprovalRequiredError, ApprovalDeniedError, BudgetExceededError, toTollgateError } = sdk;

const BASE = 'http://gateway.test';
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
/** A session token as the gateway issues it (unsigned: the SDK only reads its claims). */
const tokenFor = (lifeSeconds: number, iatAgo = 0) => {
  const iat = Math.floor(Date.now() / 1000) - iatAgo;
  return `${b64({ alg: 'EdDSA', typ: 'at+jwt' })}.${b64({ sub: 'agt_1', sid: 'ses_1', jti: `tok_${Math.random()}`, iat, exp: iat + lifeSeconds })}.sig`;
};

/** A gateway whose token endpoint answers `refusal`; any other request fails the test. */
function refusingGateway(refusal: Record<string, unknown> | Error) {
  const seen: string[] = [];
  const fetch = (async (input: string | URL | Request) => {
    const url = String(input instanceof Request ? input.url : input);
    seen.push(new URL(url).pathname);
    if (!url.endsWith('/oauth/token')) throw new Error(`the request reached the gateway: ${url}`);
    if (refusal instanceof Error) throw refusal;
    return new Response(JSON.stringify(refusal), { status: 400, headers: { 'content-type': 'application/json' } });
  }) as typeof globalThis.fetch;
  return { seen, tollgate: new Tollgate({ baseUrl: BASE, fetch, closeOnExit: false }) };
}

const chat = (openai: OpenAI) => openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
const caught = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e);

describe('a token that can no longer be refreshed', () => {
  it('answers each official client in its API\'s own error shape, with the refusal\'s status and Tollgate code', async () => {
    const { tollgate, seen } = refusingGateway({ error: 'invalid_grant', error_description: 'The session is closed.', tollgate_code: 'session_inactive' });
    const session = tollgate.fromToken(tokenFor(2, 10)); // expired 8 s ago
    const openai = await session.openai<OpenAI>();
    const refused = await caught(chat(openai));
    expect(refused).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(refused).toMatchObject({ status: 401, code: 'session_inactive', type: 'invalid_request_error', message: '401 The session is closed.' });
    expect(toTollgateError(refused)).toBeInstanceOf(SessionEndedError);
    // Refused once: the token is not offered to the token endpoint again (nor retried by the client).
    expect(seen).toEqual(['/oauth/token']);

    const anthropic = await session.anthropic<Anthropic>();
    const refusedClaude = await caught(anthropic.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }));
    expect(refusedClaude).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((refusedClaude as InstanceType<typeof Anthropic.APIError>).error).toEqual({ type: 'error', error: { type: 'authentication_error', message: 'The session is closed.', code: 'session_inactive', oauth_error: 'invalid_grant' } });
    expect(toTollgateError(refusedClaude)).toMatchObject({ name: 'SessionEndedError', code: 'session_inactive', status: 401 });

    // MCP: the JSON-RPC error the gateway answers a refused request with (HTTP 401, -32001).
    const mcp = new Client({ name: 'sdk-test', version: '1.0.0' });
    const refusedMcp = await caught(mcp.connect(await session.mcpTransport('notes')));
    expect(refusedMcp).toBeInstanceOf(StreamableHTTPError);
    expect((refusedMcp as StreamableHTTPError).code).toBe(401);
    expect((refusedMcp as Error).message).toContain('"code":-32001');
    expect(toTollgateError(refusedMcp)).toMatchObject({ name: 'SessionEndedError', code: 'session_inactive', status: 401 });

    // The agent API (what waitForApproval long-polls): the admin shape, and a typed rejection.
    const res = await session.fetch(`${BASE}/agent/v1/approvals/apr_1`);
    expect([res.status, await res.json()]).toEqual([401, { error: { code: 'session_inactive', message: 'The session is closed.', details: { oauth_error: 'invalid_grant' } } }]);
    await expect(session.waitForApproval('apr_1')).rejects.toBeInstanceOf(SessionEndedError);
    expect(seen).toEqual(['/oauth/token']);
  });

  it('a suspended team is a 403 PermissionDeniedError; the code in tollgate_code is used as it is, with its details', async () => {
    const { tollgate } = refusingGateway({ error: 'invalid_grant', error_description: "The agent's team is suspended until an operator resumes it.", tollgate_code: 'team_suspended' });
    const refused = await caught(chat(await tollgate.fromToken(tokenFor(2, 10)).openai<OpenAI>()));
    expect(refused).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(refused).toMatchObject({ status: 403, code: 'team_suspended' });
    const explicit = refusingGateway({ error: 'invalid_grant', error_description: 'Suspended.', tollgate_code: 'agent_inactive', tollgate_details: { agent_id: 'agt_1' } });
    const typed = toTollgateError(await caught(chat(await explicit.tollgate.fromToken(tokenFor(2, 10)).openai<OpenAI>())));
    expect(typed).toBeInstanceOf(SessionEndedError);
    expect(typed).toMatchObject({ code: 'agent_inactive', status: 401, details: { agent_id: 'agt_1', oauth_error: 'invalid_grant' } });
  });

  it('a refusal without a Tollgate code is a 401 invalid_token (not a typed refusal); a token endpoint out of reach stays a connection error', async () => {
    const { tollgate } = refusingGateway({ error: 'invalid_grant', error_description: 'Something new.' });
    const refused = await caught(chat(await tollgate.fromToken(tokenFor(2, 10)).openai<OpenAI>()));
    expect(refused).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(refused).toMatchObject({ code: 'invalid_token', message: '401 Something new.' });
    expect(toTollgateError(refused)).toBeNull();
    const down = refusingGateway(new TypeError('fetch failed'));
    expect(await caught(chat(await down.tollgate.fromToken(tokenFor(2, 10)).openai<OpenAI>({ maxRetries: 0 })))).toBeInstanceOf(OpenAI.APIConnectionError);
  });

  it('a refresh refused while the token is still valid: the request goes with it (the gateway\'s own answer decides)', async () => {
    let calls = 0;
    const fetch = (async (input: string | URL | Request) => {
      const url = String(input instanceof Request ? input.url : input);
      if (url.endsWith('/oauth/token')) {
        calls++;
        return new Response(JSON.stringify({ error: 'invalid_grant', error_description: 'An unexpected refusal.' }), { status: 400 });
      }
      return new Response(JSON.stringify({ ok: true }), { status: 200, headers: { 'content-type': 'application/json' } });
    }) as typeof globalThis.fetch;
    const session = new Tollgate({ baseUrl: BASE, fetch, closeOnExit: false }).fromToken(tokenFor(60, 55)); // 5 s left: due
    const token = await session.token();
    expect((await session.fetch(`${BASE}/v1/models`)).status).toBe(200);
    expect(await session.token()).toBe(token);
    // Tried once; not again on every call (the background refresh retries later).
    expect(calls).toBe(1);
  });
});

describe('toTollgateError', () => {
  it('reads the MCP client\'s errors: an McpError\'s data, and the transport\'s refused HTTP request', () => {
    const required = toTollgateError(new McpError(-32003, 'This call of "notes/deploy" needs a human approval.', { code: 'tool_approval_required', request_id: 'req_1', approval_id: 'apr_1', tool: 'notes/deploy' }));
    expect(required).toBeInstanceOf(ApprovalRequiredError);
    expect(required).toMatchObject({ code: 'tool_approval_required', status: 403, message: 'This call of "notes/deploy" needs a human approval.', approvalId: 'apr_1' });
    expect(toTollgateError(new McpError(-32003, 'A human denied this call.', { code: 'tool_approval_denied', approval_id: 'apr_1' }))).toBeInstanceOf(ApprovalDeniedError);
    const spent = toTollgateError(new McpError(-32002, 'The budget is exhausted.', { code: 'budget_exceeded', level: 'agent' }));
    expect(spent).toBeInstanceOf(BudgetExceededError);
    expect(spent).toMatchObject({ status: 402, details: { level: 'agent' } });
    expect(toTollgateError(new McpError(-32003, 'nope', { code: 'tool_not_allowed' }))).toBeNull();
    expect(toTollgateError(new McpError(-32602, 'bad arguments'))).toBeNull();
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, error: { code: -32001, message: 'The session token has been revoked.', data: { code: 'token_revoked', request_id: 'req_2' } } });
    expect(toTollgateError(new StreamableHTTPError(401, `Error POSTing to endpoint: ${body}`))).toMatchObject({ name: 'SessionEndedError', code: 'token_revoked', status: 401 });
    expect(toTollgateError(new StreamableHTTPError(502, 'Error POSTing to endpoint: Bad Gateway'))).toBeNull();
  });
});
