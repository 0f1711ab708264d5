import { describe, expect, it } from 'vitest';
import { ConfigError, defaultConfigText, parseConfig } from '../../src/config/index.js';

function problems(text: string): string[] {
  try {
    parseConfig(text, 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected the configuration to be refused');
}

describe('configuration file', () => {
  it('the shipped default is valid and uses only the simulated provider', () => {
    const config = parseConfig(defaultConfigText());
    expect(config.providers.map((p) => p.type)).toEqual(['simulated']);
    expect(config.agents.length).toBeGreaterThan(0);
    expect(config.server.port).toBe(8080);
  });

  it('accepts the example from the issue', () => {
    const config = parseConfig(`
providers:
  - { name: openai, type: openai, base_url: https://api.openai.com/v1, api_key_env: OPENAI_API_KEY }
  - { name: anthropic, type: anthropic, base_url: https://api.anthropic.com, api_key_env: ANTHROPIC_API_KEY }
  - { name: sim, type: simulated }
models:
  - { name: gpt-4o-mini, provider: openai, price: { input: 0.15, output: 0.60, cached_input: 0.075 } }
teams:    [{ name: support }]
profiles: [{ name: support-bot, models: ["gpt-4o-mini"], session_budget: { default: { usd: 1 } } }]
agents:   [{ name: triage-1, team: support, profile: support-bot, owner: ana@example.com, environment: prod }]
`);
    expect(config.profiles[0]!.session_budget.default).toEqual({ usd: 1 });
    expect(config.models[0]!.price?.cached_input).toBe(0.075);
  });

  it('names an unknown key and its line', () => {
    const found = problems('server:\n  port: 8080\n  prot: 9\nmodels: []\n');
    expect(found).toEqual(['server (line 2): unknown key "prot"']);
  });

  it('names a wrong type with its path and line', () => {
    const found = problems('providers:\n  - name: sim\n    type: simulated\nmodels:\n  - name: m\n    provider: sim\n    price: { input: "cheap", output: 1 }\n');
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^models\[0\]\.price\.input \(line 7\): .*number/);
  });

  it('reports every broken reference at once, with lines', () => {
    const found = problems(`providers: [{ name: sim, type: simulated }]
models:
  - { name: m1, provider: nope, price: { input: 1, output: 1 } }
profiles:
  - { name: p, models: [m1, m2] }
agents:
  - { name: a, team: ghost, profile: p }
`);
    expect(found).toEqual([
      'models[0].provider (line 3): unknown provider "nope"',
      'profiles[0].models[1] (line 5): unknown model "m2"',
      'agents[0].team (line 7): unknown team "ghost"',
    ]);
  });

  it('refuses a profile default above its maximum, for a session\'s budget as for its lifetime', () => {
    const found = problems(`providers: [{ name: sim, type: simulated }]
models: [{ name: m, provider: sim }]
profiles:
  - name: p
    models: [m]
    session_budget: { default: { usd: 10, tokens: 500 }, max: { usd: 5, tokens: 1000 } }
    session_ttl_seconds: { default: 7200, max: 3600 }
`);
    expect(found).toEqual([
      'profiles[0].session_ttl_seconds.default (line 7): default (7200) is above max (3600)',
      'profiles[0].session_budget.default.usd (line 6): default (10) is above max (5)',
    ]);
  });

  it('refuses duplicate names, an invalid enum and YAML syntax errors', () => {
    expect(problems('teams: [{ name: a }, { name: a }]\n')).toEqual(['teams[1].name (line 1): duplicate name "a"']);
    expect(problems('providers: [{ name: x, type: bedrock }]\n')[0]).toMatch(/providers\[0\]\.type \(line 1\)/);
    expect(problems('teams: [\n')[0]).toMatch(/^line \d+:/);
    expect(problems('teams: []\nteams: []\n')[0]).toMatch(/line 2/);
  });

  it('requires base_url for real providers and refuses it for the simulated one', () => {
    expect(problems('providers: [{ name: o, type: openai }]\n')).toEqual(['providers[0] (line 1): provider "o" of type openai needs base_url']);
    expect(problems('providers: [{ name: s, type: simulated, base_url: "http://x" }]\n')[0]).toContain('takes no base_url');
  });
});
