// The policy engine: Cedar, evaluated on every model call, tool call, delegation and session
// open. It fails closed: a request that does not match the schema, or any policy whose
// evaluation errors (Cedar skips such a policy, so an erroring `forbid` would otherwise let the
// request through), is denied. Decisions are cached per exact input — policies, the entities'
// attributes and the context attributes some policy reads — which is safe because a Cedar
// decision is a pure function of those.
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cedar, checkSchema, loadPolicies, PolicyLoadError, readPolicyFile, type LoadedPolicy, type PolicySource } from './policy-set.js';

export type PolicyAction = 'call_model' | 'call_tool' | 'delegate' | 'open_session';
export type EntityType = 'Agent' | 'Model' | 'Tool' | 'Profile' | 'Team' | 'Server';
type Attr = string | number | boolean;

/** An entity as policies see it. `key` identifies its attributes for the decision cache. */
export interface EntityFacts {
  type: EntityType;
  id: string;
  attrs: Record<string, Attr>;
  parents: { type: EntityType; id: string; attrs: Record<string, Attr> }[];
  key: string;
}

/** The request context (config/policies/tollgate.cedarschema, RequestContext): every key required. */
export interface RequestContext {
  environment: string;
  data_sensitivity: string;
  sensitivity_level: number;
  intended_action: string;
  estimated_cost_usd_micros: number;
  delegation_depth: number;
  hour: number;
  weekday: number;
  source: string;
  phase: string;
}

export interface PolicyRequest {
  action: PolicyAction;
  principal: EntityFacts;
  resource: EntityFacts;
  context: RequestContext;
}

export type PolicyEffect = 'allow' | 'deny' | 'approval';

export interface PolicyDecision {
  /** `approval`: denied only by policies annotated `@approval("required")` — a human may allow it. */
  effect: PolicyEffect;
  /** The policies that decided (Cedar's determining policies). */
  policies: string[];
  /** `@reason` annotations of the deciding forbids, or why the request failed closed. */
  reasons: string[];
  /** Evaluation errors (any one makes the decision a deny). */
  errors: string[];
  /** Policy set version that decided. */
  version: number;
  cached: boolean;
}

export interface PolicyEngineOptions {
  /** Include the shipped default policies. */
  defaults: boolean;
  /** Operator policy files (absolute paths). */
  files: string[];
  cacheSize: number;
  /** Re-read the files when they change. */
  watch: boolean;
  /** Told of every reload, good or refused. */
  onReload?: (outcome: { ok: true; version: number; policies: number } | { ok: false; problems: string[] }) => void;
}

const SCHEMA_PATH = fileURLToPath(new URL('../../config/policies/tollgate.cedarschema', import.meta.url));
const DEFAULTS_PATH = fileURLToPath(new URL('../../config/policies/default.cedar', import.meta.url));
export const SCHEMA_TEXT = readFileSync(SCHEMA_PATH, 'utf8');
const SCHEMA_NAME = 'tollgate-schema';
const WATCH_INTERVAL_MS = 1000;

let schemaReady = false;
let instances = 0;

function prepareSchema(): void {
  if (schemaReady) return;
  checkSchema(SCHEMA_TEXT, SCHEMA_PATH);
  const answer = cedar.preparseSchema(SCHEMA_NAME, SCHEMA_TEXT);
  if (answer.type === 'failure') throw new PolicyLoadError(answer.errors.map((e) => `${SCHEMA_PATH}: ${e.message}`));
  schemaReady = true;
}

/** Reads (and validates) the policy sources the options name; throws PolicyLoadError. */
export function readPolicySources(options: Pick<PolicyEngineOptions, 'defaults' | 'files'>): LoadedPolicy[] {
  prepareSchema();
  const sources: PolicySource[] = [];
  if (options.defaults) sources.push({ name: '<defaults>', text: readFileSync(DEFAULTS_PATH, 'utf8') });
  for (const file of options.files) sources.push(readPolicyFile(file));
  return loadPolicies(sources, SCHEMA_TEXT);
}

/** Context attributes some policy reads; null when a policy uses `context` as a whole. */
function contextAttributesRead(policies: LoadedPolicy[]): Set<string> | null {
  const read = new Set<string>();
  let whole = false;
  const isContext = (e: unknown) => (e as { Var?: string } | null)?.Var === 'context';
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node === null || typeof node !== 'object') return;
    const n = node as Record<string, unknown>;
    for (const op of ['.', 'has'] as const) {
      const access = n[op] as { left?: unknown; attr?: string | string[] } | undefined;
      if (access && isContext(access.left)) {
        read.add(Array.isArray(access.attr) ? access.attr[0]! : access.attr!);
        return;
      }
    }
    if (isContext(n)) whole = true;
    for (const value of Object.values(n)) walk(value);
  };
  for (const p of policies) {
    const json = cedar.policyToJson(p.text);
    if (json.type === 'failure') return null;
    walk(json.json.conditions);
  }
  return whole ? null : read;
}

interface PolicyGeneration {
  version: number;
  setId: string;
  policies: Map<string, LoadedPolicy>;
  /** Context attributes in the cache key (null: all). */
  keyAttributes: (keyof RequestContext)[] | null;
}

export class PolicyEngine {
  private generation!: PolicyGeneration;
  private readonly cache = new Map<string, PolicyDecision>();
  private readonly instance = ++instances;
  private watcher: NodeJS.Timeout | null = null;

  /** Loads and validates the policies (throws PolicyLoadError naming file and line). */
  constructor(private readonly options: PolicyEngineOptions) {
    this.install(readPolicySources(options), 1);
    if (options.watch) this.watch();
  }

  get version(): number {
    return this.generation.version;
  }

  get policyIds(): string[] {
    return [...this.generation.policies.keys()];
  }

  /** Re-reads the policy files; a set with errors is refused and the current one stays. */
  reload(): { ok: true; version: number } | { ok: false; problems: string[] } {
    try {
      const policies = readPolicySources(this.options);
      this.install(policies, this.generation.version + 1);
      this.options.onReload?.({ ok: true, version: this.generation.version, policies: policies.length });
      return { ok: true, version: this.generation.version };
    } catch (err) {
      const problems = err instanceof PolicyLoadError ? err.problems : [(err as Error).message];
      this.options.onReload?.({ ok: false, problems });
      return { ok: false, problems };
    }
  }

  private install(policies: LoadedPolicy[], version: number): void {
    const setId = `tollgate-${this.instance}-${version}`;
    const answer = cedar.preparsePolicySet(setId, { staticPolicies: Object.fromEntries(policies.map((p) => [p.id, p.text])) });
    if (answer.type === 'failure') throw new PolicyLoadError(answer.errors.map((e) => e.message));
    const read = contextAttributesRead(policies);
    this.generation = { version, setId, policies: new Map(policies.map((p) => [p.id, p])), keyAttributes: read ? ([...read].sort() as (keyof RequestContext)[]) : null };
    this.cache.clear();
  }

  /**
   * Polls the files' size and modification time once a second and reloads when either differs
   * from what the last load attempt read. (Compared with that, not with the previous poll, so an
   * edit made right after the start is never taken as the baseline.)
   */
  private watch(): void {
    let seen = fileStamps(this.options.files);
    this.watcher = setInterval(() => {
      const now = fileStamps(this.options.files);
      if (now === seen) return;
      seen = now;
      this.reload();
    }, WATCH_INTERVAL_MS);
    this.watcher.unref();
  }

  close(): void {
    if (this.watcher) clearInterval(this.watcher);
    this.watcher = null;
  }

  decide(request: PolicyRequest): PolicyDecision {
    const generation = this.generation;
    const key = this.options.cacheSize > 0 ? cacheKey(generation, request) : null;
    if (key !== null) {
      const hit = this.cache.get(key);
      // Named fields, not a spread: this runs on every call (see store/chain.ts).
      if (hit) return { version: hit.version, cached: true, effect: hit.effect, policies: hit.policies, reasons: hit.reasons, errors: hit.errors };
    }
    const decision = this.evaluate(generation, request);
    if (key !== null) {
      if (this.cache.size >= this.options.cacheSize) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, decision);
    }
    return decision;
  }

  private evaluate(generation: PolicyGeneration, request: PolicyRequest): PolicyDecision {
    const decided = (effect: PolicyEffect, policies: string[], reasons: string[], errors: string[]): PolicyDecision => ({ effect, policies, reasons, errors, version: generation.version, cached: false });
    const answer = cedar.statefulIsAuthorized({
      principal: uid(request.principal),
      action: { type: 'Tollgate::Action', id: request.action },
      resource: uid(request.resource),
      context: request.context as unknown as Record<string, Attr>,
      entities: entities(request),
      preparsedSchemaName: SCHEMA_NAME,
      validateRequest: true,
      preparsedPolicySetId: generation.setId,
    });
    if (answer.type === 'failure') {
      // The request does not fit the schema: nothing was evaluated, so nothing may run.
      const errors = answer.errors.map((e) => e.message);
      return decided('deny', [], ['the request could not be evaluated (fail closed)'], errors);
    }
    const { decision, diagnostics } = answer.response;
    if (diagnostics.errors.length > 0) {
      // Cedar skipped the erroring policies; had one been a forbid, allowing would be wrong.
      return decided('deny', diagnostics.errors.map((e) => e.policyId), ['a policy failed to evaluate (fail closed)'], diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`));
    }
    const policies = diagnostics.reason;
    if (decision === 'allow') return decided('allow', policies, [], []);
    if (policies.length === 0) return decided('deny', policies, ['no policy permits this request'], []);
    const deciding = policies.map((id) => generation.policies.get(id));
    const reasons = deciding.map((p) => p?.annotations.reason ?? `forbidden by policy ${p?.id ?? '?'}`);
    const approvable = deciding.every((p) => p?.annotations.approval === 'required');
    return decided(approvable ? 'approval' : 'deny', policies, reasons, []);
  }
}

const uid = (e: { type: EntityType; id: string }) => ({ type: `Tollgate::${e.type}`, id: e.id });

function entities(request: PolicyRequest) {
  const out = new Map<string, { uid: { type: string; id: string }; attrs: Record<string, Attr>; parents: { type: string; id: string }[] }>();
  for (const e of [request.principal, request.resource]) {
    out.set(`${e.type}:${e.id}`, { uid: uid(e), attrs: e.attrs, parents: e.parents.map(uid) });
    for (const p of e.parents) if (!out.has(`${p.type}:${p.id}`)) out.set(`${p.type}:${p.id}`, { uid: uid(p), attrs: p.attrs, parents: [] });
  }
  return [...out.values()];
}

function cacheKey(generation: PolicyGeneration, r: PolicyRequest): string {
  let key = `${generation.version}\u0000${r.action}\u0000${r.principal.key}\u0000${r.resource.key}`;
  const attrs = generation.keyAttributes ?? (Object.keys(r.context).sort() as (keyof RequestContext)[]);
  for (const a of attrs) key += `\u0000${String(r.context[a])}`;
  return key;
}

/** Builds an entity and its cache key (type, id and every attribute, parents included). */
export function entity(type: EntityType, id: string, attrs: Record<string, Attr>, parents: EntityFacts['parents'] = []): EntityFacts {
  return { type, id, attrs, parents, key: JSON.stringify([type, id, attrs, parents]) };
}

/** Size and modification time of each file, as one comparable string ("missing" for an absent one). */
function fileStamps(files: readonly string[]): string {
  return files
    .map((f) => {
      try {
        const st = statSync(f);
        return `${st.size}:${st.mtimeMs}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');
}
