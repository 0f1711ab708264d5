// The Cedar policy engine on its own: fail-closed evaluation, load errors with file and line,
// approval annotations, reload without restart, and the exact-input decision cache.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cedar } from '../../src/policy/policy-set.js';
import { entity, PolicyEngine, SCHEMA_TEXT, type PolicyRequest, type RequestContext } from '../../src/policy/engine.js';
import { PolicyLoadError } from '../../src/policy/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-policy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function policyFile(text: string): string {
  const file = join(dir, `p${++n}.cedar`);
  writeFileSync(file, text);
  return file;
}

const context = (over: Partial<RequestContext> = {}): RequestContext => ({
  environment: 'dev', data_sensitivity: 'internal', sensitivity_level: 1, intended_action: 'unspecified', estimated_cost_usd_micros: 10,
  delegation_depth: 0, hour: 12, weekday: 3, source: '127.0.0.1', phase: 'request', ...over,
});
const agent = entity('Agent', 'bot', { name: 'bot', team: 'ops', profile: 'coder', environment: 'dev', owner: '' }, [
  { type: 'Team', id: 'ops', attrs: { name: 'ops' } },
  { type: 'Profile', id: 'coder', attrs: { name: 'coder' } },
]);
const model = entity('Model', 'gpt-4o', { name: 'gpt-4o', provider: 'sim', provider_type: 'simulated', approved_data_sensitivity: 'confidential', approved_sensitivity_level: 2 });
const deploy = entity('Tool', 'ops/deploy', { name: 'deploy', server: 'ops', destructive: true }, [{ type: 'Server', id: 'ops', attrs: { name: 'ops' } }]);
const modelCall = (over: Partial<RequestContext> = {}): PolicyRequest => ({ action: 'call_model', principal: agent, resource: model, context: context(over) });
const toolCall = (over: Partial<RequestContext> = {}): PolicyRequest => ({ action: 'call_tool', principal: agent, resource: deploy, context: context(over) });

const engine = (files: string[], options: { defaults?: boolean; cacheSize?: number; watch?: boolean; onReload?: (o: unknown) => void } = {}) =>
  new PolicyEngine({ defaults: options.defaults ?? true, files, cacheSize: options.cacheSize ?? 1000, watch: options.watch ?? false, onReload: options.onReload });

describe('policy engine', () => {
  it('fails closed when a forbid errors: Cedar alone would allow the request', () => {
    // Overflows for any depth above 1: it validates, then errors at evaluation.
    const overflow = '@id("deep-forbid")\nforbid (principal, action, resource) when { context.delegation_depth * 9223372036854775807 > 0 };';
    const raw = cedar.isAuthorized({
      principal: { type: 'Tollgate::Agent', id: 'bot' }, action: { type: 'Tollgate::Action', id: 'call_model' }, resource: { type: 'Tollgate::Model', id: 'gpt-4o' },
      context: { ...context({ delegation_depth: 2 }) }, entities: [], policies: { staticPolicies: { allow: 'permit (principal, action, resource);', 'deep-forbid': overflow } },
    });
    expect(raw.type === 'success' && raw.response.decision).toBe('allow'); // the pitfall is real
    const e = engine([policyFile(overflow)]);
    const decision = e.decide(modelCall({ delegation_depth: 2 }));
    expect(decision.effect).toBe('deny');
    expect(decision.policies).toEqual(['deep-forbid']);
    expect(decision.errors.join()).toMatch(/overflow/);
    expect(e.decide(modelCall({ delegation_depth: 0 })).effect).toBe('allow');
  });

  it('denies a request that does not fit the schema (a missing context key) instead of skipping policies', () => {
    const e = engine([]);
    const { source: _dropped, ...partial } = context();
    const decision = e.decide({ ...modelCall(), context: partial as RequestContext });
    expect(decision.effect).toBe('deny');
    expect(decision.errors.join()).toMatch(/source/);
  });

  it('applies the shipped data-sensitivity policy: restricted data only to approved providers', () => {
    const e = engine([]);
    expect(e.decide(modelCall({ data_sensitivity: 'confidential', sensitivity_level: 2 })).effect).toBe('allow');
    const denied = e.decide(modelCall({ data_sensitivity: 'restricted', sensitivity_level: 3 }));
    expect(denied).toMatchObject({ effect: 'deny', policies: ['tollgate.data-sensitivity'] });
    expect(denied.reasons[0]).toMatch(/not approved/);
  });

  it('turns a deny by @approval("required") policies alone into an approval, and a plain forbid beside it into a deny', () => {
    const e = engine([]);
    expect(e.decide(toolCall({ data_sensitivity: 'restricted', sensitivity_level: 3 })).effect).toBe('approval');
    const strict = engine([policyFile('@id("no-deploy-from-dev")\nforbid (principal, action == Tollgate::Action::"call_tool", resource == Tollgate::Tool::"ops/deploy")\nwhen { context.environment == "dev" };')]);
    const d = strict.decide(toolCall({ data_sensitivity: 'restricted', sensitivity_level: 3 }));
    expect(d.effect).toBe('deny');
    expect(d.policies.sort()).toEqual(['no-deploy-from-dev', 'tollgate.destructive-on-restricted']);
    expect(strict.decide(toolCall({ environment: 'prod' })).effect).toBe('allow');
  });

  it('denies when no policy permits (defaults off, only forbids)', () => {
    const e = engine([policyFile('forbid (principal, action, resource) when { context.hour > 30 };')], { defaults: false });
    expect(e.decide(modelCall())).toMatchObject({ effect: 'deny', policies: [], reasons: ['no policy permits this request'] });
  });

  it('refuses to load a policy with a syntax error, naming the file, line and column', () => {
    const file = policyFile('permit (principal, action, resource);\n\nforbid (principal, action,\n  resource) when { context.environment == };\n');
    let error: unknown;
    try {
      engine([file]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PolicyLoadError);
    expect((error as PolicyLoadError).problems[0]).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:\\d+: `));
  });

  it('refuses a policy that does not validate against the schema, with Cedar\'s message and hint', () => {
    const file = policyFile('permit (principal, action, resource);\nforbid (principal, action == Tollgate::Action::"call_model", resource)\nwhen { context.enviroment == "prod" };\n');
    expect(() => engine([file])).toThrow(/p\d+\.cedar:3:\d+: .*enviroment.*did you mean `environment`/s);
    expect(() => engine([join(dir, 'missing.cedar')])).toThrow(/missing\.cedar: cannot read the policy file \(ENOENT\)/);
    // Named by its @id, not Cedar's policy1; one line for the problem, not one per action checked.
    const named = policyFile('permit (principal, action, resource);\n@id("no-restricted")\nforbid (principal, action, resource)\n  when { context.data_sensitivty == "restricted" };\n');
    let problems: string[] = [];
    try {
      engine([named]);
    } catch (err) {
      problems = (err as PolicyLoadError).problems;
    }
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/:4:\d+: for policy `no-restricted`, attribute `data_sensitivty` in context for the actions call_model, call_tool, delegate, open_session not found — did you mean `data_sensitivity`\?$/);
    const dup = policyFile('@id("same")\npermit (principal, action, resource);\n@id("same")\nforbid (principal, action, resource) when { context.hour == 3 };');
    expect(() => engine([dup])).toThrow(/policy id "same" is already used/);
  });

  it('reloads a changed file without a restart, and keeps the last good set when an edit is bad', { timeout: 40_000 }, async () => {
    const file = policyFile('@id("quiet")\nforbid (principal, action, resource) when { context.hour == 99 };');
    const outcomes: { ok: boolean }[] = [];
    const e = engine([file], { watch: true, onReload: (o) => outcomes.push(o as { ok: boolean }) });
    try {
      expect(e.decide(modelCall()).effect).toBe('allow');
      writeFileSync(file, '@id("no-gpt-4o")\nforbid (principal, action, resource == Tollgate::Model::"gpt-4o");');
      await expect.poll(() => e.decide(modelCall()).effect, { timeout: 15_000, interval: 100 }).toBe('deny');
      expect(e.version).toBe(2);
      writeFileSync(file, 'forbid (principal, action, resource) when { context.nope };');
      await expect.poll(() => outcomes.length, { timeout: 15_000, interval: 100 }).toBe(2);
      expect(outcomes[1]!.ok).toBe(false);
      expect(e.version).toBe(2);
      expect(e.decide(modelCall())).toMatchObject({ effect: 'deny', policies: ['no-gpt-4o'] });
    } finally {
      e.close();
    }
  });

  it('caches only on the exact inputs policies read', () => {
    const e = engine([]);
    expect(e.decide(modelCall()).cached).toBe(false);
    expect(e.decide(modelCall()).cached).toBe(true);
    // No policy reads the cost: another cost is the same decision, served from the cache.
    expect(e.decide(modelCall({ estimated_cost_usd_micros: 999 })).cached).toBe(true);
    // The sensitivity is read: another value is evaluated, and decided differently.
    expect(e.decide(modelCall({ data_sensitivity: 'restricted', sensitivity_level: 3 }))).toMatchObject({ cached: false, effect: 'deny' });
    const costly = engine([policyFile('@id("cap")\nforbid (principal, action, resource) when { context.estimated_cost_usd_micros > 500 };')]);
    expect(costly.decide(modelCall({ estimated_cost_usd_micros: 100 })).effect).toBe('allow');
    expect(costly.decide(modelCall({ estimated_cost_usd_micros: 900 }))).toMatchObject({ effect: 'deny', cached: false });
    // Another agent attribute is another entity: never served another agent's decision.
    const prodAgent = entity('Agent', 'bot', { ...agent.attrs, environment: 'prod' }, agent.parents);
    expect(e.decide({ ...modelCall(), principal: prodAgent }).cached).toBe(false);
  });

  it('measures the cost of a decision: cached decisions are far cheaper than evaluations', () => {
    const uncached = engine([], { cacheSize: 0 });
    const cached = engine([]);
    const time = (e: PolicyEngine) => {
      for (let i = 0; i < 200; i++) e.decide(modelCall());
      const start = performance.now();
      for (let i = 0; i < 2000; i++) e.decide(modelCall());
      return ((performance.now() - start) / 2000) * 1000;
    };
    const evaluate = time(uncached);
    const hit = time(cached);
    console.log(`policy decision: ${evaluate.toFixed(1)} µs evaluated, ${hit.toFixed(2)} µs from the cache`);
    expect(hit).toBeLessThan(evaluate / 3);
  });

  it('ships a schema Cedar accepts', () => {
    expect(cedar.checkParseSchema(SCHEMA_TEXT).type).toBe('success');
  });
});
