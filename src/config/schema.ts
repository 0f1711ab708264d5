// The configuration file's schema: one YAML document, validated at start. Unknown keys are
// errors (z.strictObject), so a typo never silently turns a control off.
import { z } from 'zod';

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be 1-128 characters of letters, digits, . _ : - (starting with a letter or digit)');

export const budgetSchema = z.strictObject({
  usd: z.number().nonnegative().optional(),
  tokens: z.number().int().nonnegative().optional(),
});

/** USD per 1M tokens. */
export const priceSchema = z.strictObject({
  input: z.number().nonnegative(),
  output: z.number().nonnegative(),
  cached_input: z.number().nonnegative().optional(),
  cache_write: z.number().nonnegative().optional(),
});

export const simulatedOptionsSchema = z.strictObject({
  latency_ms: z.number().int().nonnegative().default(0),
  tokens_per_second: z.number().nonnegative().default(0),
  failure_rate: z.number().min(0).max(1).default(0),
  default_output_tokens: z.number().int().positive().default(32),
  cached_prompt_share: z.number().min(0).max(1).default(0),
});

export const dataSensitivity = z.enum(['public', 'internal', 'confidential', 'restricted']);

export const providerSchema = z.strictObject({
  name,
  type: z.enum(['openai', 'anthropic', 'simulated']),
  /** The most sensitive data class this provider is approved for (the shipped policy enforces it). */
  approved_data_sensitivity: dataSensitivity.default('confidential'),
  /** Upstream base URL; OpenAI-style ends with /v1, Anthropic's is the bare origin. Not for `simulated`. */
  base_url: z.url({ protocol: /^https?$/ }).optional(),
  /** Name of the environment variable holding the provider key (the key itself never goes in the file). */
  api_key_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional(),
  timeout_ms: z.number().int().positive().default(120_000),
  max_connections: z.number().int().positive().default(256),
  simulated: simulatedOptionsSchema.optional(),
});

export const modelSchema = z.strictObject({
  /** The name agents ask for. */
  name,
  provider: name,
  /** The name sent upstream (default: `name`). */
  upstream_model: z.string().min(1).optional(),
  price: priceSchema,
  /** Largest output the model can produce; bounds reservations when a request sets no limit. */
  max_output_tokens: z.number().int().positive().default(16_384),
});

export const periodBudgetSchema = z.strictObject({
  usd: z.number().nonnegative().optional(),
  tokens: z.number().int().nonnegative().optional(),
  /** `day` and `month` reset at the period boundary (budgets.timezone); `lifetime` never. */
  period: z.enum(['day', 'month', 'lifetime']).default('month'),
});

export const enforcementSchema = z.strictObject({
  /** `hard`: refuse at the cap (402). `soft`: also ask a human (an approval) at the threshold. */
  mode: z.enum(['hard', 'soft']).default('hard'),
  /** Share of the session budget at which a soft-mode session needs an approval. */
  soft_threshold: z.number().gt(0).max(1).default(0.8),
  /** Hold a call that needs approval this long waiting for the decision (0: answer 402 at once). */
  approval_hold_seconds: z.number().int().nonnegative().max(300).default(0),
});

export const teamSchema = z.strictObject({
  name,
  owner: z.string().optional(),
  /** What all the team's agents together may spend per period. */
  budget: periodBudgetSchema.optional(),
});

export const federationIssuerSchema = z
  .strictObject({
    name,
    kind: z.enum(['spiffe', 'kubernetes', 'oidc']).default('oidc'),
    /** The exact `iss` of its tokens. */
    issuer: z.string().min(1),
    /** Where its public keys are: a JWKS URL, a JWKS file, or inline. */
    jwks_url: z.url({ protocol: /^https?$/ }).optional(),
    jwks_file: z.string().optional(),
    jwks: z.strictObject({ keys: z.array(z.record(z.string(), z.unknown())) }).optional(),
    /** After a fetch, an unknown `kid` triggers another fetch only once this much time has passed. */
    jwks_cooldown_seconds: z.number().nonnegative().default(30),
    /** `aud` its tokens must carry (default: tokens.audience). */
    audience: z.string().optional(),
    algorithms: z.array(z.enum(['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'EdDSA'])).optional(),
    /** SPIFFE: subjects must be in this trust domain. */
    trust_domain: z.string().optional(),
    /** Claims that must have exactly these values (e.g. GitHub's repository_id). */
    required_claims: z.record(z.string(), z.string()).optional(),
    /** Subject → agent, first match wins; `*` matches within one path segment. */
    subjects: z.array(z.strictObject({ match: z.string().min(1), agent: name })).min(1),
  })
  .refine((i) => [i.jwks_url, i.jwks_file, i.jwks].filter(Boolean).length === 1, 'give exactly one of jwks_url, jwks_file, jwks');

/** Scope entries: names or globs (`*`, `?`), a leading `!` denies (deny wins). */
const scopeSchema = z.array(z.string().min(1).max(256));

const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24-hour)');

export const missionSchema = z.strictObject({
  /** Expected spend of one agent, USD per minute (before a learned baseline exists). */
  usd_per_minute: z.number().positive().optional(),
  /** Expected model calls of one agent per minute. */
  calls_per_minute: z.number().positive().optional(),
  /** Expected share of calls that fail upstream (0..1). */
  error_rate: z.number().min(0).max(1).optional(),
  /** Tools (`server/tool` names or globs) the agents are expected to call; others are deviations. */
  tools: scopeSchema.optional(),
  /** Working hours in the budgets' time zone; calls outside them are out-of-task. */
  active_hours: z.strictObject({ from: clock, to: clock }).optional(),
  /** Expected length of one task (session), minutes. */
  session_minutes: z.number().positive().optional(),
  /** Deepest delegation expected under one session (a root session is depth 0). */
  max_delegation_depth: z.number().int().nonnegative().optional(),
  /** Most child sessions one session is expected to open. */
  max_fanout: z.number().int().positive().optional(),
});

export const profileSchema = z.strictObject({
  name,
  /** Models sessions of this profile may use (names or globs; `!` denies). */
  models: scopeSchema.default([]),
  /** MCP tools (`server/tool` globs) and function tools offered in model calls (their names). */
  tools: scopeSchema.default([]),
  /** MCP resources (`server/uri` globs). */
  resources: scopeSchema.default([]),
  /** MCP prompts (`server/name` globs). */
  prompts: scopeSchema.default([]),
  /** Tools offered in a model call outside the session's scope: refuse the call (403) or strip them. */
  tool_scope: z.enum(['refuse', 'strip']).default('refuse'),
  /** Tool calls (`server/tool` globs) that need a human approval before they run. */
  tool_approvals: scopeSchema.default([]),
  /** Data class of a session that does not say (sessions may raise it, never lower it below a parent's). */
  data_sensitivity: dataSensitivity.default('internal'),
  session_budget: z
    .strictObject({ default: budgetSchema.optional(), max: budgetSchema.optional() })
    .default({}),
  session_ttl_seconds: z
    .strictObject({ default: z.number().int().positive().default(3600), max: z.number().int().positive().default(86_400) })
    .default({ default: 3600, max: 86_400 }),
  /** What each agent of this profile may spend per period (or in its lifetime). */
  agent_budget: periodBudgetSchema.optional(),
  enforcement: enforcementSchema.default({ mode: 'hard', soft_threshold: 0.8, approval_hold_seconds: 0 }),
  /** A child session of this profile must prove itself with an actor_token (a federated JWT). */
  require_actor_token: z.boolean().default(false),
  /** Requests and tokens per minute, per session and per agent (429 with Retry-After past them). */
  rate_limits: z
    .strictObject({
      session: z.strictObject({ requests_per_minute: z.number().int().positive().optional(), tokens_per_minute: z.number().int().positive().optional() }).optional(),
      agent: z.strictObject({ requests_per_minute: z.number().int().positive().optional(), tokens_per_minute: z.number().int().positive().optional() }).optional(),
    })
    .optional(),
  /** What an agent of this profile is expected to do: the detectors' declared baseline (docs/detection.md). */
  mission: missionSchema.optional(),
  /** Prompt/output and tool argument/result capture, apart from the event chain (docs/audit.md#content-logging). */
  content_logging: z
    .strictObject({ mode: z.enum(['off', 'hash', 'full']).default('off'), retention_days: z.number().int().positive().max(36_500).default(30) })
    .default({ mode: 'off', retention_days: 30 }),
});

export const agentSchema = z.strictObject({
  name,
  team: name,
  profile: name,
  owner: z.string().optional(),
  environment: z.string().default('dev'),
});

export const mcpToolSettingsSchema = z.strictObject({
  /** Charged to the session's budgets per call (USD). */
  cost_usd: z.number().nonnegative().optional(),
  /** Every call of this tool needs a human approval. */
  approval: z.boolean().default(false),
  /** Marks the tool as destructive for policies (`resource.destructive`). */
  destructive: z.boolean().optional(),
});

export const mcpServerSchema = z
  .strictObject({
    name,
    /** A Streamable HTTP server. */
    url: z.url({ protocol: /^https?$/ }).optional(),
    /** Non-secret headers sent to the server. */
    headers: z.record(z.string(), z.string()).default({}),
    /** Header name → environment variable holding its value (the gateway's own credential for the server). */
    headers_env: z.record(z.string(), z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/)).default({}),
    /** A stdio server launched by the gateway. */
    command: z.string().min(1).optional(),
    /** A server shipped with Tollgate, launched over stdio: `notes` (docs/mcp.md#the-built-in-notes-server). */
    builtin: z.enum(['notes']).optional(),
    args: z.array(z.string()).default([]),
    env: z.record(z.string(), z.string()).default({}),
    cwd: z.string().optional(),
    /** A call that takes longer is answered with a JSON-RPC error. */
    timeout_ms: z.number().int().positive().default(30_000),
    /** Largest `arguments` of a tools/call, in bytes of JSON. */
    max_argument_bytes: z.number().int().positive().default(64 * 1024),
    /** Per-tool settings, by the tool's own name. */
    tools: z.record(z.string(), mcpToolSettingsSchema).default({}),
  })
  .refine((s) => [s.url, s.command, s.builtin].filter(Boolean).length === 1, 'give exactly one of url (Streamable HTTP), command (stdio) or builtin');

export const policySchema = z.strictObject({
  /** Include the shipped default policies (permit within scope; the data-sensitivity guard). */
  defaults: z.boolean().default(true),
  /** Operator policy files (Cedar); relative paths are relative to the config file. */
  files: z.array(z.string().min(1)).default([]),
  /** Re-read the files when they change (a bad edit is refused; the last good set stays). */
  reload: z.boolean().default(true),
  /** Decisions remembered per exact request (0 turns the cache off). */
  cache_size: z.number().int().nonnegative().default(10_000),
});

const containmentAction = z.enum(['notify', 'throttle_session', 'suspend_session', 'revoke_agent']);
type ContainmentActionName = z.infer<typeof containmentAction>;

/** A detector's switch and what to do at each severity (an alert is always recorded). */
const detectorSchema = <T extends z.ZodRawShape>(shape: T, warning: ContainmentActionName[], critical: ContainmentActionName[]) =>
  z
    .strictObject({
      enabled: z.boolean().default(true),
      actions: z.strictObject({ warning: z.array(containmentAction).default(warning), critical: z.array(containmentAction).default(critical) }).prefault({}),
      ...shape,
    })
    // Every field has a default; the generic shape hides that from the type of `{}`.
    .prefault({} as never);

const seconds = (d: number) => z.number().int().positive().default(d);

export const detectionSchema = z
  .strictObject({
    /** Run the detectors at all (containment already in force stays). */
    enabled: z.boolean().default(true),
    /** Length of one window: the unit of learned rates (spend per window) and of per-window counts. */
    window_seconds: seconds(60),
    /** How learned baselines form (per agent; tool mix per profile). */
    learning: z
      .strictObject({
        /** Active windows (minutes with calls) an agent needs before its learned spend baseline is used. */
        warmup_windows: z.number().int().positive().default(15),
        /** Weight of the past halves every this many active windows (EWMA). */
        half_life_windows: z.number().int().positive().default(60),
        /** Tool calls a profile needs before a never-seen tool counts as a deviation. */
        warmup_tool_calls: z.number().int().positive().default(20),
      })
      .prefault({}),
    /** Alert notices: a webhook with the documented JSON payload, or Slack's incoming-webhook format. */
    notify: z
      .strictObject({
        webhook_url: z.url({ protocol: /^https?$/ }).optional(),
        format: z.enum(['json', 'slack']).default('json'),
      })
      .prefault({}),
    /** What `throttle_session` imposes. */
    throttle: z.strictObject({ requests_per_minute: z.number().int().positive().default(6), duration_seconds: seconds(900) }).prefault({}),
    detectors: z
      .strictObject({
        spend_spike: detectorSchema({
          /** Spend in the current window this many times the usual window's: warning (critical_ratio: critical). */
          warning_ratio: z.number().gt(1).default(5),
          critical_ratio: z.number().gt(1).default(20),
          /** A window spending less than this never alerts (USD). */
          min_usd: z.number().nonnegative().default(0.01),
        }, ['notify'], ['notify', 'throttle_session']),
        retry_loop: detectorSchema({
          window_seconds: seconds(300),
          /** The same prompt this often in the window (answered or not): warning. */
          repeats: z.number().int().min(2).default(10),
          /** The same prompt failing this often in the window: critical. */
          failed_repeats: z.number().int().min(2).default(4),
        }, ['notify'], ['notify', 'suspend_session']),
        tool_deviation: detectorSchema({
          /** A tool's calls in the window before its share is judged. */
          min_calls: z.number().int().positive().default(10),
          /** A tool's share of the agent's tool calls above this many times its share in the profile: warning. */
          share_ratio: z.number().gt(1).default(3),
          /** Refused tool calls in the window (probing outside the scope): critical. */
          denied_calls: z.number().int().positive().default(5),
          // Agents often try a refused tool again: the default is to tell a human, not to suspend.
        }, ['notify'], ['notify']),
        out_of_task: detectorSchema({
          /** A session called again after this long without calls. */
          idle_seconds: seconds(1800),
          /** A session still calling after this many times its profile's `mission.session_minutes`. */
          overrun_ratio: z.number().gt(1).default(2),
        }, [], ['notify']),
        credential_misuse: detectorSchema({
          window_seconds: seconds(60),
          /** Failed authentications from one source in the window. */
          failed_auth: z.number().int().positive().default(10),
        }, ['notify'], ['notify', 'suspend_session']),
        delegation: detectorSchema({}, ['notify'], ['notify']),
      })
      .prefault({}),
  })
  .prefault({});

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65_535).default(8080),
      /** Largest request body accepted on the data plane and the admin API. */
      body_limit_bytes: z.number().int().positive().default(4 * 1024 * 1024),
      /** How long in-flight calls may run on shutdown before they are cut. */
      shutdown_grace_ms: z.number().int().nonnegative().default(10_000),
      /** Emit one log line per data-plane request. */
      log_requests: z.boolean().default(true),
    })
    .default({ host: '127.0.0.1', port: 8080, body_limit_bytes: 4 * 1024 * 1024, shutdown_grace_ms: 10_000, log_requests: true }),
  data_dir: z.string().default('.tollgate'),
  storage: z
    .strictObject({
      sqlite: z
        .strictObject({
          /** Database file; relative paths are under data_dir. */
          path: z.string().default('tollgate.db'),
          /** NORMAL survives a killed process; FULL also survives power loss, at a write cost. */
          synchronous: z.enum(['NORMAL', 'FULL']).default('NORMAL'),
        })
        .default({ path: 'tollgate.db', synchronous: 'NORMAL' }),
    })
    .default({ sqlite: { path: 'tollgate.db', synchronous: 'NORMAL' } }),
  tokens: z
    .strictObject({
      issuer: z.string().default('tollgate'),
      audience: z.string().default('tollgate'),
      /** Session token lifetime; never past the session's own end. */
      ttl_seconds: z.number().int().positive().default(900),
      /** Rotate the signing key when it is older than this (0 = only on command). */
      rotation_days: z.number().nonnegative().default(30),
      /** How long a rotated-out key still verifies (at least ttl_seconds is used). */
      key_overlap_seconds: z.number().int().nonnegative().default(900),
    })
    .default({ issuer: 'tollgate', audience: 'tollgate', ttl_seconds: 900, rotation_days: 30, key_overlap_seconds: 900 }),
  budgets: z
    .strictObject({
      /** Time zone whose midnight (and first of the month) resets day and month budgets. */
      timezone: z.string().default('UTC').refine((tz) => {
        try {
          new Intl.DateTimeFormat('en-US', { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      }, 'must be an IANA time zone name, e.g. UTC or Europe/Paris'),
    })
    .default({ timezone: 'UTC' }),
  approvals: z
    .strictObject({
      /** POSTed a JSON notice when an approval is requested and when it is decided. */
      webhook_url: z.url({ protocol: /^https?$/ }).optional(),
      /** How long an approved tool call may be used (once) after the decision. */
      tool_approval_ttl_seconds: z.number().int().positive().max(86_400).default(600),
    })
    .default({ tool_approval_ttl_seconds: 600 }),
  delegation: z
    .strictObject({
      max_depth: z.number().int().min(0).max(32).default(4),
      /** Allow delegating to an agent of another team (its team's budgets then pay for the child). */
      allow_cross_team: z.boolean().default(false),
    })
    .default({ max_depth: 4, allow_cross_team: false }),
  federation: z.strictObject({ issuers: z.array(federationIssuerSchema).default([]) }).default({ issuers: [] }),
  identity: z
    .strictObject({
      /** One session token used from two source addresses within this window is flagged as shared (0 = off). */
      shared_credential_window_seconds: z.number().int().nonnegative().default(60),
    })
    .default({ shared_credential_window_seconds: 60 }),
  logging: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).default({ level: 'info' }),
  policy: policySchema.default({ defaults: true, files: [], reload: true, cache_size: 10_000 }),
  mcp_servers: z.array(mcpServerSchema).default([]),
  mcp: z
    .strictObject({
      /** An MCP session (Mcp-Session-Id) unused this long is dropped. */
      session_idle_seconds: z.number().int().positive().default(1800),
      /** Host names `/mcp/` answers besides loopback ones (DNS-rebinding protection); empty: loopback only on a loopback bind, any otherwise. */
      allowed_hosts: z.array(z.string().min(1)).default([]),
    })
    .default({ session_idle_seconds: 1800, allowed_hosts: [] }),
  providers: z.array(providerSchema).default([]),
  models: z.array(modelSchema).default([]),
  teams: z.array(teamSchema).default([]),
  profiles: z.array(profileSchema).default([]),
  agents: z.array(agentSchema).default([]),
  /** The tamper-evident audit chain (docs/audit.md). */
  audit: z
    .strictObject({
      /** Sign a checkpoint of the audit chain this often (and on clean shutdown). */
      checkpoint_interval_seconds: z.number().int().positive().default(300),
      /** Copies of every durable event, for log shippers and SIEMs. */
      export: z
        .strictObject({
          /** JSON lines appended to this file (relative: under data_dir), or `-` for stdout. */
          jsonl_path: z.string().min(1).optional(),
          /** POSTed batches `{ events: [...] }`, retried with backoff. */
          webhook_url: z.url({ protocol: /^https?$/ }).optional(),
          webhook_batch_size: z.number().int().positive().max(10_000).default(500),
          /** Events held while the webhook is slow or down; beyond this they are dropped (and counted). */
          webhook_max_queue: z.number().int().positive().default(10_000),
        })
        .default({ webhook_batch_size: 500, webhook_max_queue: 10_000 }),
      /** Secrets and personal data replaced by `[REDACTED:<name>]` in `full` content logging. */
      redaction: z
        .strictObject({
          /** Extra patterns (JavaScript regexes, applied globally), after the defaults. */
          patterns: z.array(z.strictObject({ name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), regex: z.string().min(1).max(1000).refine((r) => {
            try {
              new RegExp(r, 'g');
              return true;
            } catch {
              return false;
            }
          }, 'not a valid regular expression') })).default([]),
          /** Apply the built-in patterns (API keys, e-mail addresses, card numbers, US SSNs). */
          defaults: z.boolean().default(true),
        })
        .default({ patterns: [], defaults: true }),
    })
    .default({ checkpoint_interval_seconds: 300, export: { webhook_batch_size: 500, webhook_max_queue: 10_000 }, redaction: { patterns: [], defaults: true } }),
  /** Behaviour detectors, alerts and automatic containment (docs/detection.md). */
  detection: detectionSchema,
  /** Prometheus metrics and OpenTelemetry traces (docs/telemetry.md); both off by default. */
  telemetry: z
    .strictObject({
      /** `GET /metrics` on the gateway port (Prometheus text format). */
      metrics: z
        .strictObject({
          enabled: z.boolean().default(false),
          /** Environment variable holding a token scrapers must send as `Authorization: Bearer …`. */
          token_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional(),
        })
        .default({ enabled: false }),
      /** Export a span per model call and per MCP call by OTLP/HTTP (JSON). */
      otlp: z
        .strictObject({
          /** The collector's base URL (`/v1/traces` is appended unless already there). */
          endpoint: z.url({ protocol: /^https?$/ }),
          /** Non-secret headers sent with every export. */
          headers: z.record(z.string(), z.string()).default({}),
          /** Header name → environment variable holding its value (e.g. an API key). */
          headers_env: z.record(z.string(), z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/)).default({}),
          service_name: z.string().min(1).default('tollgate'),
        })
        .optional(),
    })
    .default({ metrics: { enabled: false } }),
});

export type Config = z.infer<typeof configSchema>;
export type ProviderConfig = z.infer<typeof providerSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;
export type TeamConfig = z.infer<typeof teamSchema>;
export type ProfileConfig = z.infer<typeof profileSchema>;
export type AgentConfig = z.infer<typeof agentSchema>;
export type FederationIssuerConfig = z.infer<typeof federationIssuerSchema>;
export type PeriodBudgetConfig = z.infer<typeof periodBudgetSchema>;
export type EnforcementConfig = z.infer<typeof enforcementSchema>;
export type BudgetConfig = z.infer<typeof budgetSchema>;
export type PriceConfig = z.infer<typeof priceSchema>;
export type McpServerConfig = z.infer<typeof mcpServerSchema>;
export type McpToolSettings = z.infer<typeof mcpToolSettingsSchema>;
export type PolicyConfig = z.infer<typeof policySchema>;
export type DataSensitivity = z.infer<typeof dataSensitivity>;
export type TelemetryConfig = z.infer<typeof configSchema>['telemetry'];
export type DetectionConfig = z.infer<typeof detectionSchema>;
export type MissionConfig = z.infer<typeof missionSchema>;
