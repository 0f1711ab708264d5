// The pieces under the detectors: the prompt fingerprint, the learned baseline, the triage rules.
import { hash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AgentBaseline, Ewma, ToolMix, Window } from '../../src/detect/baseline.js';
import { promptFingerprinter } from '../../src/detect/fingerprint.js';
import { triage } from '../../src/detect/triage.js';
import { turnsDuring } from '../helpers/event-loop.js';
import { parseConfig } from '../../src/config/index.js';

describe('prompt fingerprint', () => {
  const fp = promptFingerprinter(randomBytes(32));
  it('matches near-same prompts (whitespace, case) and tells different ones apart (ids included)', () => {
    expect(fp('Retry job 41 at 10:02')).toBe(fp('retry  job 41 at\n10:02'));
    expect(fp('retry job 41')).not.toBe(fp('retry job 42'));
    expect(fp('retry job')).not.toBe(fp('cancel job'));
    expect(fp('x')).toMatch(/^[0-9a-f]{16}$/);
  });
  it('is keyed: another key gives another fingerprint for the same text', () => {
    expect(promptFingerprinter(randomBytes(32))('same text')).not.toBe(fp('same text'));
  });
  it('is the keyed hash of the text with every whitespace run made one space, then lowercased', () => {
    const key = randomBytes(32);
    const keyed = promptFingerprinter(key);
    // Text dense in every kind of whitespace JavaScript's \s knows, in runs of any length.
    const text = fc.string({ unit: fc.constantFrom('a', 'B', '1', ' ', '  ', '\t', '\n', '\r', '\v', '\f', '\u00a0', '\u2028', '\u3000', '\ufeff', 'É') });
    fc.assert(fc.property(text, (t) => {
      expect(keyed(t)).toBe(hash('sha256', key.toString('hex') + t.replace(/\s+/g, ' ').toLowerCase()).slice(0, 16));
    }), { numRuns: 2000 });
  });
});

describe('prompt fingerprint in slices', () => {
  it('is the fingerprint of the whole text, wherever the slices fall', async () => {
    // Slices of ~3 characters: every cut the rule allows is taken. Units chosen where a careless
    // cut would change the result: whitespace runs, Σ (lowercased by what follows it), case-
    // ignorable marks and punctuation, characters outside the BMP (surrogate pairs), CJK.
    const key = randomBytes(32);
    const whole = promptFingerprinter(key);
    const sliced = promptFingerprinter(key, 3);
    const unit = fc.constantFrom('a', 'B', 'Σ', 'ΑΣ', 'σ', 'ς', '.', "'", '\u0301', '1', ' ', '  ', '\n', '\t', 'İ', '東京', '😀', '𝐀', 'É', 'ß');
    await fc.assert(fc.asyncProperty(fc.string({ unit, maxLength: 60 }), async (t) => {
      expect(await sliced.inSlices(t)).toBe(whole(t));
    }), { numRuns: 1500 });
  });

  it('lets the event loop run between its slices', async () => {
    const fp = promptFingerprinter(randomBytes(32), 1024);
    const text = 'Lorem ipsum dolor sit amet '.repeat(4000);
    const { value: made, turns } = await turnsDuring(() => fp.inSlices(text));
    expect(made).toBe(fp(text));
    expect(turns).toBeGreaterThan(10);
  });
});

describe('learned baseline', () => {
  it('is a plain running mean until the half-life, so a small first window does not linger', () => {
    const e = new Ewma(60);
    e.add(1);
    for (let i = 0; i < 29; i++) e.add(10);
    expect(e.mean).toBeCloseTo((1 + 29 * 10) / 30, 9);
  });
  it('then weighs the past down by half every half-life', () => {
    const e = new Ewma(10);
    for (let i = 0; i < 1000; i++) e.add(0);
    for (let i = 0; i < 10; i++) e.add(100);
    expect(e.mean).toBeCloseTo(50, 6);
    expect(e.sd).toBeGreaterThan(0);
  });
  it('learns only active windows that raised no spend alert, and round-trips through JSON', () => {
    const b = new AgentBaseline(60);
    const w = new Window(0);
    w.calls = 2;
    w.usdNano = 100;
    b.learn(w);
    b.learn(new Window(60_000));
    const alerted = Object.assign(new Window(120_000), { calls: 50, usdNano: 10_000, alerted: true });
    b.learn(alerted);
    expect(b.windows).toBe(1);
    const copy = new AgentBaseline(60);
    copy.restore(JSON.parse(JSON.stringify(b.toJSON())));
    expect(copy.spend.state).toEqual(b.spend.state);
  });
});

describe('triage', () => {
  const baseline = new AgentBaseline(60);
  for (let i = 0; i < 20; i++) baseline.learn(Object.assign(new Window(i), { calls: 3, usdNano: 6_000_000 }));
  const mix = new ToolMix();
  for (let i = 0; i < 30; i++) mix.learn(i % 3 === 0 ? 'calendar' : 'search');
  const window = (calls: number, prompts: string[], extra: Partial<Window> = {}) => {
    const w = Object.assign(new Window(0), { calls, usdNano: calls * 2_000_000, ...extra });
    prompts.forEach((p) => w.prompts.set(p, (w.prompts.get(p) ?? 0) + 1));
    return w;
  };

  it('distinct prompts at the usual cost per call: legitimate throughput', () => {
    const t = triage(window(60, Array.from({ length: 60 }, (_, i) => `p${i}`)), baseline, mix, 3);
    expect(t.verdict).toBe('legitimate_throughput');
    expect(t.evidence.cost_per_call_usd).toBeCloseTo(t.evidence.usual_cost_per_call_usd as number, 9);
  });
  it('the same prompt again and again, or failures then retries: prompt loop', () => {
    expect(triage(window(20, Array(20).fill('same')), baseline, mix, 3).verdict).toBe('prompt_loop');
    expect(triage(window(10, Array.from({ length: 10 }, (_, i) => `p${i}`), { failed: 5 }), baseline, mix, 3).verdict).toBe('prompt_loop');
  });
  it('a new tool, refused tool calls, or one tool\'s share far above the mix: lateral tool misuse — first, whatever else', () => {
    const fresh = window(20, Array(20).fill('same'));
    fresh.newTools.add('upload');
    expect(triage(fresh, baseline, mix, 3).verdict).toBe('lateral_tool_misuse');
    expect(triage(window(5, ['a', 'b', 'c', 'd', 'e'], { toolDenials: 2 }), baseline, mix, 3).verdict).toBe('lateral_tool_misuse');
    const shifted = window(12, Array.from({ length: 12 }, (_, i) => `p${i}`), { toolCalls: 12 });
    shifted.tools.set('calendar', 12);
    // calendar is a third of the profile's tool calls and all of this window's: 3× its share (ratio 2).
    const t = triage(shifted, baseline, mix, 2);
    expect(t.verdict).toBe('lateral_tool_misuse');
    expect(t.evidence.tool_share_shifts).toEqual([{ tool: 'calendar', share: 1, usual_share: 0.333 }]);
  });
});

describe('detection config', () => {
  it('refuses an unknown action and an unknown detector, naming the key', () => {
    expect(() => parseConfig('detection: { detectors: { retry_loop: { actions: { critical: [explode] } } } }', 't.yaml')).toThrow(/detection\.detectors\.retry_loop\.actions\.critical/);
    expect(() => parseConfig('detection: { detectors: { mind_reader: {} } }', 't.yaml')).toThrow(/mind_reader/);
    expect(() => parseConfig('profiles: [{ name: p, mission: { active_hours: { from: "25:00", to: "08:00" } } }]', 't.yaml')).toThrow(/HH:MM/);
  });
});
