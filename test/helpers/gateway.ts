// Starts a real gateway (HTTP on a random loopback port, SQLite in a temp dir, the simulated
// provider in-process) for tests, with helpers to call its admin API.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { defaultConfigText, parseConfig, type Config } from '../../src/config/index.js';
import { Gateway } from '../../src/server/index.js';

export const ADMIN_TOKEN = 'tga_test-admin-token-0123456789';

export interface TestGateway {
  gateway: Gateway;
  url: string;
  dataDir: string;
  admin<T = any>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T; headers: Headers }>;
  openSession(input?: Record<string, unknown>): Promise<{ token: string; sessionId: string }>;
  session(id: string): Promise<any>;
  close(): Promise<void>;
}

/** The shipped default config, with `patch` merged over its top-level keys. */
export function testConfig(patch: Record<string, unknown> = {}): Config {
  const base = parseYaml(defaultConfigText()) as Record<string, unknown>;
  const merged = { ...base, logging: { level: 'silent' }, ...patch };
  return parseConfig(stringify(merged), 'test config');
}

export async function startGateway(patch: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}, now?: () => number): Promise<TestGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-test-'));
  const config = testConfig(patch);
  const gateway = await Gateway.create({ config, dataDir, env: { TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, ...env }, now });
  const url = await gateway.listen(0, '127.0.0.1');
  const admin: TestGateway['admin'] = async (method, path, body, token = ADMIN_TOKEN) => {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  };
  return {
    gateway,
    url,
    dataDir,
    admin,
    async openSession(input = {}) {
      const res = await admin('POST', '/admin/v1/sessions', { agent: 'demo-agent', task: 'test', ...input });
      if (res.status !== 201) throw new Error(`open session failed: ${res.status} ${JSON.stringify(res.body)}`);
      return { token: res.body.token, sessionId: res.body.session.id };
    },
    async session(id) {
      const res = await admin('GET', `/admin/v1/sessions/${id}`);
      return res.body;
    },
    async close() {
      await gateway.close(1000);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** USD cost of a usage at a price per 1M tokens (computed independently of the gateway's code). */
export function expectedUsd(u: { input: number; cached?: number; cacheWrite?: number; output: number }, p: { input: number; output: number; cached_input?: number; cache_write?: number }): number {
  const cached = u.cached ?? 0;
  const write = u.cacheWrite ?? 0;
  return ((u.input - cached - write) * p.input + cached * (p.cached_input ?? p.input) + write * (p.cache_write ?? p.input) + u.output * p.output) / 1e6;
}
