// The dashboard's only way to the gateway: the admin API on this origin, with the token the
// operator typed in (theirs, or the bootstrap admin token) or got from an OIDC sign-in. The token lives in sessionStorage (this tab, until it closes) — never in a
// cookie, so no other site can make the browser send it — and is sent only as a Bearer header.
import { store } from './store';

const TOKEN_KEY = 'tollgate.admin-token';

/**
 * An OIDC sign-in comes back as `/ui/#token=…` (or `#sign_in_error=…`): the token moves to
 * sessionStorage and the fragment leaves the address bar (and the history) at once.
 */
function fromFragment(): string | null {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  const error = params.get('sign_in_error');
  if (token === null && error === null) return null;
  history.replaceState(null, '', location.pathname + location.search);
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  return error;
}

/** Why the last OIDC sign-in failed, if it did (shown on the sign-in page). */
export const signInError = fromFragment();

export const signedIn = store<boolean>(sessionStorage.getItem(TOKEN_KEY) !== null);

export function signIn(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
  signedIn.set(true);
}

export function signOut(): void {
  sessionStorage.removeItem(TOKEN_KEY);
  signedIn.set(false);
  me.set(null);
}

export type Role = 'viewer' | 'approver' | 'operator' | 'admin';
/** The signed-in operator and the route → role table the API enforces (GET /admin/v1/whoami). */
export interface Me { id: string; name: string; role: Role; via: string; roles: { ladder: Role[]; routes: Record<string, Role>; default: { GET: Role; POST: Role } } }
export const me = store<Me | null>(null);

/** Loads who is signed in (after sign-in, and when the dashboard opens with a kept token). */
export async function loadMe(): Promise<void> {
  me.set(await api<Me>('GET', '/whoami'));
}

/**
 * Whether the signed-in operator may call a route (`POST`, `/approvals/{id}/approve`): actions
 * it may not take are not shown. The API checks the same table anyway.
 */
export function can(who: Me | null, method: 'GET' | 'POST', path: string): boolean {
  if (!who) return false;
  const needed = who.roles.routes[`${method} /admin/v1${path}`] ?? who.roles.default[method];
  return who.roles.ladder.indexOf(who.role) >= who.roles.ladder.indexOf(needed);
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/** Whether the gateway offers OIDC sign-in (admin.oidc), and where it starts. */
export async function oidcConfig(): Promise<{ enabled: boolean; login_url?: string }> {
  const res = await fetch('/admin/oidc/config', { cache: 'no-store', credentials: 'omit' });
  return res.ok ? ((await res.json()) as { enabled: boolean; login_url?: string }) : { enabled: false };
}

/** Calls the admin API; a 401 signs out (the token was wrong or has changed). */
export async function api<T>(method: 'GET' | 'POST', path: string, body?: unknown, token = sessionStorage.getItem(TOKEN_KEY)): Promise<T> {
  if (token === null) throw new ApiError(401, 'unauthenticated', 'Not signed in.');
  const res = await fetch(`/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit',
  });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON: reported below by status.
  }
  if (!res.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    if (res.status === 401) signOut();
    throw new ApiError(res.status, error?.code ?? 'http_error', error?.message ?? `HTTP ${res.status}`);
  }
  return parsed as T;
}

export const get = <T>(path: string) => api<T>('GET', path);
export const post = <T>(path: string, body: unknown = {}) => api<T>('POST', path, body);

/** An operator's action on an object (`/agents/ID/suspend`…), with the reason if one was given. */
export const postAction = <T>(path: string, reason = '') => post<T>(path, reason.trim() ? { reason: reason.trim() } : {});

/** A query string from the set values of `params`. */
export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

// --- the shapes the admin API answers (docs/api.md) ------------------------------------------

export interface List<T> { object: 'list'; data: T[] }
export interface Ref { id: string; name?: string }
export interface Amounts { tokens: number | null; usd: number | null }

export interface Team { id: string; name: string; owner: string | null; status: 'active' | 'suspended'; budget: (Amounts & { period: string }) | null }
export interface Profile { id: string; name: string }
export interface Agent { id: string; name: string; team: Ref; profile: Ref; owner: string | null; environment: string; status: 'active' | 'suspended' | 'revoked'; created_at: string }

export interface Spend { input_tokens: number; output_tokens: number; cached_input_tokens: number; reasoning_tokens: number; total_tokens: number; usd: number; requests: number }

export interface Session {
  id: string;
  status: string;
  task: string;
  agent: Ref;
  team: Ref;
  profile: Ref;
  parent_id: string | null;
  chain: string[];
  depth: number;
  models: string[];
  tags: Record<string, string>;
  budget: Amounts;
  spent: Spend;
  reserved?: { tokens: number; usd: number };
  remaining?: Amounts;
  spent_with_children?: Spend;
  children?: string[];
  context: Record<string, unknown>;
  created_at: string;
  expires_at: string;
}

export interface TreeNode {
  id: string;
  agent: Ref;
  task: string;
  status: string;
  budget: Amounts;
  spent: Spend;
  spent_with_children: Spend;
  children: TreeNode[];
}

export interface Approval {
  id: string;
  kind: string;
  status: 'pending' | 'approved' | 'denied';
  session_id: string;
  agent_id: string;
  team_id: string;
  created_at: string;
  decided_at: string | null;
  decided_by: string | null;
  reason: string | null;
  extra_budget: Amounts;
  context: Record<string, unknown>;
}

export interface Credential { id: string; status: string; created_at: string; expires_at: string | null; revoked_at: string | null; last_used_at: string | null; last_used_from: string | null }

export interface Remedy { action: string; automatic: boolean; description: string; commands: string[]; diff?: string; suggestion?: { models: string[]; tools: string[] } }
export interface Finding { id: string; kind: string; severity: Severity; owasp: string | null; summary: string; agent: Ref | null; profile: Ref | null; credential: string | null; evidence: Record<string, unknown>; remedy: Remedy; accepted: { by: string; at: string } | null }
export interface Usage { name: string; calls: number; last_at: string }
export interface AgentReview {
  id: string; name: string; owner: string | null; team: Ref; profile: Ref; status: string; environment: string;
  credentials: { id: string; status: string; age_days: number; expires_at: string | null; last_used_at: string | null; last_used_from: string | null; sources: { source: string }[] }[];
  federated: boolean; sessions_in_window: number; last_session_at: string | null;
  models: { granted: string[]; used: Usage[] }; tools: { granted: string[]; used: Usage[] }; findings: string[];
}
export interface AccessReview {
  generated_at: string; window: { days: number; since: string; until: string }; unused_days: number;
  summary: { agents: number; credentials: number; findings: number; by_severity: Record<Severity, number> };
  findings: Finding[]; agents: AgentReview[];
  last_sign_off: { id: string; signed_at: string; signed_by: string; operator: { name: string; role: string } | null; accepted: string[]; remediated: string[]; note: string | null } | null;
  changes_since_last: { new: string[]; resolved: string[]; still_open: string[] } | null;
}

export interface AuditEvent { seq: number; id: string; time: string; type: string; actor: string; request_id: string | null; agent_id: string | null; session_id: string | null; team_id: string | null; chain: string[] | null; data: Record<string, unknown> }
export interface AuditPage extends List<AuditEvent> { order: 'asc' | 'desc'; has_more: boolean; next_cursor: string | null; follow_cursor: string }
export interface Verify { ok: boolean; events: number; checkpoints: number; first_broken?: { seq: number; id: string; reason: string; detail?: string }; ms: number }

export interface SpendRow { bucket?: string; key: string | null; name?: string | null; executing_team?: string; usd: number; input_tokens: number; output_tokens: number; requests: number }
export interface SpendReport { group_by: string; rows: SpendRow[]; total: { usd: number; requests: number; input_tokens: number; output_tokens: number }; interval_seconds?: number }

export interface BudgetLine {
  level: 'team' | 'agent';
  id: string;
  name: string;
  period: string;
  period_start: string | null;
  period_end: string | null;
  budget: Amounts;
  spent: Amounts;
  reserved: Amounts;
  remaining: Amounts;
  burn_rate_per_hour: { tokens: number; usd: number };
  forecast_exhausted_at: string | null;
}

export type Severity = 'info' | 'warning' | 'critical';
export interface Alert {
  id: string;
  object: 'alert';
  detector: string;
  /** What the finding is about (`session:ses_…`, `agent:agt_…`). */
  subject?: string;
  /** How many findings this alert gathers (later ones update it). */
  occurrences?: number;
  severity: Severity;
  status: 'open' | 'acknowledged' | 'resolved';
  summary: string;
  verdict: null | string;
  evidence: Record<string, unknown>;
  actions: { action: string; at: string; detail?: unknown }[];
  agent: { id: string; name: string } | null;
  session_id: string | null;
  team_id: string | null;
  profile_id: string | null;
  created_at: string;
  updated_at: string;
  acknowledged_by: string | null;
  resolved_by: string | null;
}
