// The configuration file's schema: one YAML document, validated at start. Unknown keys are
// errors (z.strictObject), so a typo never silently turns a control off.
import { z } from 'zod';
import { isTimeZone } from '../util/time.js';

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be 1-128 characters of letters, digits, . _ : - (starting with a letter or digit)');

/**
 * The most USD one budget (or price) may name: amounts are kept as whole nano-USD, exact only
 * below 2^53 (~9.007 million USD). Larger (1e308, say) used to turn into an unlimited budget.
 */
export const MAX_USD = 9_000_000;
export const usdAmount = z.number().nonnegative().max(MAX_USD, `must be at most ${MAX_USD} (USD)`);

export const budgetSchema = z.strictObject({
  usd: usdAmount.optional().describe('USD.'),
  tokens: z.number().int().nonnegative().optional().describe('Tokens (input + output).'),
});

/**
 * USD per 1M tokens. Each field overrides the price catalog's; a model the catalog does not
 * know needs at least `input` and `output` (checked when the registry is built).
 */
export const priceSchema = z.strictObject({
  input: z.number().nonnegative().optional().describe('USD per 1M input tokens (over the catalog\'s).'),
  output: z.number().nonnegative().optional().describe('USD per 1M output tokens, reasoning tokens included (over the catalog\'s).'),
  cached_input: z.number().nonnegative().optional().describe('USD per 1M cached input tokens (default: the catalog\'s, else `input`).'),
  cache_write: z.number().nonnegative().optional().describe('USD per 1M tokens written to the prompt cache (default: the catalog\'s, else `input`).'),
});

export const simulatedOptionsSchema = z.strictObject({
  latency_ms: z.number().int().nonnegative().default(0).describe('Delay before the first byte of every model answer.'),
  tokens_per_second: z.number().nonnegative().default(0).describe('Stream pacing (0: every event written at once).'),
  failure_rate: z.number().min(0).max(1).default(0)
    .describe('Share of model requests answered with a 500 (deterministic: every round(1 / rate)-th).'),
  default_output_tokens: z.number().int().positive().default(32).describe('Answer length when the request sets no limit.'),
  cached_prompt_share: z.number().min(0).max(1).default(0).describe('Share of prompt tokens reported as cached.'),
});

export const dataSensitivity = z.enum(['public', 'internal', 'confidential', 'restricted']);

export const providerSchema = z.strictObject({
  name: name.describe('The provider\'s name, referenced by models.'),
  type: z.enum(['openai', 'azure_openai', 'gemini', 'openrouter', 'openai_compatible', 'anthropic', 'simulated'])
    .describe('`openai` (Chat Completions, Responses, Embeddings), `azure_openai`, `gemini`, `openrouter`, `openai_compatible` (vLLM, Ollama, llama.cpp…), `anthropic` (Messages), `simulated` (all of them, in-process): docs/providers.md.'),
  approved_data_sensitivity: dataSensitivity.default('confidential')
    .describe('The most sensitive data class this provider is approved for (the shipped policy enforces it).'),
  base_url: z.url({ protocol: /^https?$/ }).optional()
    .describe('Upstream base URL; OpenAI-style ends with /v1 (Gemini: …/v1beta/openai, OpenRouter: …/api/v1), Azure and Anthropic are the bare origin. Not for `simulated`.'),
  api_key_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional()
    .describe('Name of the environment variable holding the provider key (the key itself never goes in the file).'),
  api_version: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).optional()
    .describe('Azure OpenAI\'s `api-version` query parameter (required for `azure_openai`).'),
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/), z.string()).default({})
    .describe('Non-secret headers sent with every upstream request (OpenRouter\'s HTTP-Referer, X-Title); never the key\'s header.'),
  timeout_ms: z.number().int().positive().default(120_000)
    .describe('Time allowed for the upstream\'s headers, and between body chunks; past it: 504 (or the next fallback).'),
  max_connections: z.number().int().positive().default(256).describe('Size of the keep-alive connection pool.'),
  simulated: simulatedOptionsSchema.optional().describe('Options of a `simulated` provider.'),
});

export const modelSchema = z.strictObject({
  name: name.describe('What agents ask for; matched exactly.'),
  provider: name.describe('A provider\'s name.'),
  upstream_model: z.string().min(1).optional().describe('The name sent upstream (default: `name`; Azure: the deployment).'),
  price: priceSchema.optional().describe('USD per 1M tokens, field by field over the price catalog\'s (docs/providers.md#prices); a model neither prices is refused for USD budgets.'),
  catalog_model: z.string().min(1).optional().describe('The catalog entry that prices this model (default: `upstream_model`, else `name`).'),
  fallbacks: z.array(name).default([]).describe('Models tried in order when this one\'s upstream fails before answering (5xx, timeout, unreachable).'),
  max_output_tokens: z.number().int().positive().default(16_384)
    .describe('Largest output the model can produce; bounds reservations when a request sets no limit.'),
  context_window: z.number().int().positive().optional()
    .describe('Tokens the model takes in and writes in one call (default: the price catalog\'s figure, else 1,000,000). Bounds the hold of a prompt carrying files, PDFs or audio, whose tokens cannot be counted before the call, and of any output.'),
  max_image_tokens: z.number().int().positive().optional()
    .describe('The most one image in a prompt can cost (its tokens depend on its size); each image is held at this. Default: 48,200 for gpt-4o-mini (its images count ~33× gpt-4o\'s tokens), else 8,192.'),
});

export const periodBudgetSchema = z.strictObject({
  usd: usdAmount.optional().describe('USD per period.'),
  tokens: z.number().int().nonnegative().optional().describe('Tokens (input + output) per period.'),
  period: z.enum(['day', 'month', 'lifetime']).default('month')
    .describe('`day` and `month` reset at the period boundary (budgets.timezone); `lifetime` never.'),
});

export const enforcementSchema = z.strictObject({
  mode: z.enum(['hard', 'soft']).default('hard')
    .describe('`hard`: refuse at the cap (402). `soft`: also ask a human (an approval) at the threshold.'),
  soft_threshold: z.number().gt(0).max(1).default(0.8)
    .describe('Share of the session budget at which a soft-mode session needs an approval.'),
  approval_hold_seconds: z.number().int().nonnegative().max(300).default(0)
    .describe('Hold a call that needs approval this long waiting for the decision (0: answer 402 at once).'),
});

export const teamSchema = z.strictObject({
  name: name.describe('The team\'s unique name.'),
  owner: z.string().optional().describe('Accountable human (e.g. an e-mail address).'),
  budget: periodBudgetSchema.optional().describe('What all the team\'s agents together may spend per period.'),
});

export const federationIssuerSchema = z
  .strictObject({
    name: name.describe('The issuer\'s name in Tollgate.'),
    kind: z.enum(['spiffe', 'kubernetes', 'oidc']).default('oidc')
      .describe('`spiffe` (JWT-SVIDs), `kubernetes` (service-account tokens) or `oidc` (e.g. CI tokens).'),
    issuer: z.string().min(1).describe('The exact `iss` of its tokens.'),
    jwks_url: z.url({ protocol: /^https?$/ }).optional()
      .describe('Where its public keys are fetched (exactly one of `jwks_url`, `jwks_file`, `jwks`).'),
    jwks_file: z.string().optional().describe('A JWK Set file holding its public keys.'),
    jwks: z
      .strictObject({ keys: z.array(z.record(z.string(), z.unknown())).describe('The JWKs.') })
      .optional()
      .describe('Its public keys inline, as a JWK Set.'),
    jwks_cooldown_seconds: z.number().nonnegative().default(30)
      .describe('After a fetch, an unknown `kid` triggers another fetch only once this much time has passed.'),
    jwks_max_age_seconds: z.number().positive().default(300)
      .describe('`jwks_url`, `jwks_file`: once the keys were loaded longer ago than this, they are loaded again before a token is trusted (a removed key stops verifying); if that fails, tokens are refused.'),
    audience: z.string().optional().describe('`aud` its tokens must carry (default: tokens.audience).'),
    algorithms: z.array(z.enum(['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'EdDSA'])).optional()
      .describe('Allowed signature algorithms (default: all of these; never HS*, never `none`).'),
    trust_domain: z.string().optional().describe('SPIFFE: subjects must be in this trust domain.'),
    required_claims: z.record(z.string(), z.string()).optional()
      .describe('Claims that must have exactly these values (e.g. GitHub\'s repository_id).'),
    subjects: z
      .array(z.strictObject({
        match: z.string().min(1).describe('A subject (`sub`); `*` matches within one path segment.'),
        agent: name.describe('The agent it maps to.'),
      }))
      .min(1)
      .describe('Subject → agent, first match wins.'),
  })
  .refine((i) => [i.jwks_url, i.jwks_file, i.jwks].filter(Boolean).length === 1, 'give exactly one of jwks_url, jwks_file, jwks');

/** Scope entries: names or globs (`*`, `?`), a leading `!` denies (deny wins). */
const scopeSchema = z.array(z.string().min(1).max(256));

const rateLimitSchema = z.strictObject({
  requests_per_minute: z.number().int().positive().optional()
    .describe('Calls per minute (a token bucket: a full bucket admits a burst of the whole limit).'),
  tokens_per_minute: z.number().int().positive().optional()
    .describe('Tokens per minute, charged at the call\'s worst case and corrected when it ends.'),
});

const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24-hour)');

export const missionSchema = z.strictObject({
  usd_per_minute: z.number().positive().optional()
    .describe('Expected spend of one agent, USD per minute (before a learned baseline exists).'),
  calls_per_minute: z.number().positive().optional().describe('Expected model calls of one agent per minute.'),
  error_rate: z.number().min(0).max(1).optional().describe('Expected share of calls that fail upstream (0..1).'),
  tools: scopeSchema.optional().describe('Tools (`server/tool` names or globs) the agents are expected to call; others are deviations.'),
  active_hours: z
    .strictObject({
      from: clock.describe('Start, `HH:MM`.'),
      to: clock.describe('End, `HH:MM` (may be before `from`: the hours wrap past midnight).'),
    })
    .optional()
    .describe('Working hours in the budgets\' time zone; calls outside them are out-of-task.'),
  session_minutes: z.number().positive().optional().describe('Expected length of one task (session), minutes.'),
  max_delegation_depth: z.number().int().nonnegative().optional()
    .describe('Deepest delegation expected under one session (a root session is depth 0).'),
  max_fanout: z.number().int().positive().optional().describe('Most child sessions one session is expected to open.'),
});

export const profileSchema = z.strictObject({
  name: name.describe('The profile\'s unique name.'),
  models: scopeSchema.default([]).describe('Models sessions of this profile may use (names or globs; `!` denies).'),
  tools: scopeSchema.default([]).describe('MCP tools (`server/tool` globs) and function tools offered in model calls (their names).'),
  resources: scopeSchema.default([]).describe('MCP resources (`server/uri` globs).'),
  prompts: scopeSchema.default([]).describe('MCP prompts (`server/name` globs).'),
  tool_scope: z.enum(['refuse', 'strip']).default('refuse')
    .describe('Tools offered in a model call outside the session\'s scope: refuse the call (403) or strip them.'),
  tool_approvals: scopeSchema.default([]).describe('Tool calls (`server/tool` globs) that need a human approval before they run.'),
  data_sensitivity: dataSensitivity.default('internal')
    .describe('Data class of a session that does not say (sessions may raise it, never lower it below a parent\'s).'),
  session_budget: z
    .strictObject({
      default: budgetSchema.optional()
        .describe('A session\'s budget when its opener asks for none (else `max`; a unit with neither is unlimited).'),
      max: budgetSchema.optional().describe('The most a session may be given.'),
    })
    .default({})
    .describe('Budget of each session (task), within which its opener chooses.'),
  session_ttl_seconds: z
    .strictObject({
      default: z.number().int().positive().default(3600).describe('A session\'s lifetime when its opener asks for none.'),
      max: z.number().int().positive().default(86_400).describe('The longest a session may live.'),
    })
    .default({ default: 3600, max: 86_400 })
    .describe('Lifetime of each session, in seconds.'),
  agent_budget: periodBudgetSchema.optional().describe('What each agent of this profile may spend per period (or in its lifetime).'),
  enforcement: enforcementSchema.default({ mode: 'hard', soft_threshold: 0.8, approval_hold_seconds: 0 })
    .describe('How session budgets are enforced (a session may override it when opened).'),
  require_actor_token: z.boolean().default(false)
    .describe('A child session of this profile must prove itself with an actor_token (a federated JWT).'),
  rate_limits: z
    .strictObject({
      session: rateLimitSchema.optional().describe('Limits of each session (task).'),
      agent: rateLimitSchema.optional().describe('Limits of each agent, all its sessions together.'),
    })
    .optional()
    .describe('Requests and tokens per minute, per session and per agent (429 with Retry-After past them).'),
  mission: missionSchema.optional()
    .describe('What an agent of this profile is expected to do: the detectors\' declared baseline (docs/detection.md).'),
  content_logging: z
    .strictObject({
      mode: z.enum(['off', 'hash', 'full']).default('off')
        .describe('`off` (nothing), `hash` (the SHA-256 of each text), `full` (the redacted text and its hash).'),
      retention_days: z.number().int().positive().max(36_500).default(30)
        .describe('Captured content of this profile\'s sessions older than this is deleted.'),
    })
    .default({ mode: 'off', retention_days: 30 })
    .describe('Prompt/output and tool argument/result capture, apart from the event chain (docs/audit.md#content-logging).'),
});

export const agentSchema = z.strictObject({
  name: name.describe('The agent\'s unique name.'),
  team: name.describe('The team that pays for it.'),
  profile: name.describe('Its mission profile.'),
  owner: z.string().optional().describe('Accountable human (e.g. an e-mail address).'),
  environment: z.string().default('dev')
    .describe('`dev`, `staging`, `prod`…: its sessions\' `environment`, which delegation never changes.'),
});

export const mcpToolSettingsSchema = z.strictObject({
  cost_usd: usdAmount.optional().describe('Charged to the session\'s budgets per call (USD).'),
  approval: z.boolean().default(false).describe('Every call of this tool needs a human approval.'),
  destructive: z.boolean().optional().describe('Marks the tool as destructive for policies (`resource.destructive`).'),
});

export const mcpServerSchema = z
  .strictObject({
    name: name.describe('Served at `/mcp/{name}`.'),
    url: z.url({ protocol: /^https?$/ }).optional().describe('A Streamable HTTP server.'),
    headers: z.record(z.string(), z.string()).default({}).describe('Non-secret headers sent to the server.'),
    headers_env: z.record(z.string(), z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/)).default({})
      .describe('Header name → environment variable holding its value (the gateway\'s own credential for the server).'),
    command: z.string().min(1).optional().describe('A stdio server launched by the gateway.'),
    builtin: z.enum(['notes']).optional().describe('A server shipped with Tollgate, launched over stdio: `notes` (docs/mcp.md#the-built-in-notes-server).'),
    args: z.array(z.string()).default([]).describe('Arguments of the stdio server\'s command.'),
    env: z.record(z.string(), z.string()).default({})
      .describe('Environment of the stdio server, besides a minimal one (never the gateway\'s variables).'),
    cwd: z.string().optional().describe('Working directory of the stdio server.'),
    timeout_ms: z.number().int().positive().default(30_000).describe('A call that takes longer is answered with a JSON-RPC error.'),
    max_argument_bytes: z.number().int().positive().default(64 * 1024).describe('Largest `arguments` of a tools/call, in bytes of JSON.'),
    tools: z.record(z.string(), mcpToolSettingsSchema).default({}).describe('Per-tool settings, by the tool\'s own name.'),
  })
  .refine((s) => [s.url, s.command, s.builtin].filter(Boolean).length === 1, 'give exactly one of url (Streamable HTTP), command (stdio) or builtin');

export const policySchema = z.strictObject({
  defaults: z.boolean().default(true).describe('Include the shipped default policies (permit within scope; the data-sensitivity guard).'),
  files: z.array(z.string().min(1)).default([]).describe('Operator policy files (Cedar); relative paths are relative to the config file.'),
  reload: z.boolean().default(true).describe('Re-read the files when they change (a bad edit is refused; the last good set stays).'),
  cache_size: z.number().int().nonnegative().default(10_000).describe('Decisions remembered per exact request (0 turns the cache off).'),
});

const containmentAction = z.enum(['notify', 'throttle_session', 'suspend_session', 'suspend_agent', 'revoke_agent']);
type ContainmentActionName = z.infer<typeof containmentAction>;

/** A detector's switch and what to do at each severity (an alert is always recorded). */
const detectorSchema = <T extends z.ZodRawShape>(shape: T, warning: ContainmentActionName[], critical: ContainmentActionName[]) =>
  z
    .strictObject({
      enabled: z.boolean().default(true).describe('Run this detector.'),
      actions: z
        .strictObject({
          warning: z.array(containmentAction).default(warning).describe('Done when a warning is raised.'),
          critical: z.array(containmentAction).default(critical).describe('Done when a critical alert is raised or escalated to.'),
        })
        .prefault({})
        .describe('What is done at each severity (recording the alert is implicit).'),
      ...shape,
    })
    // Every field has a default; the generic shape hides that from the type of `{}`.
    .prefault({} as never);

const seconds = (d: number) => z.number().int().positive().default(d);

export const detectionSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Run the detectors at all (containment already in force stays).'),
    window_seconds: seconds(60).describe('Length of one window: the unit of learned rates (spend per window) and of per-window counts.'),
    learning: z
      .strictObject({
        warmup_windows: z.number().int().positive().default(15)
          .describe('Active windows (minutes with calls) an agent needs before its learned spend baseline is used.'),
        half_life_windows: z.number().int().positive().default(60)
          .describe('Weight of the past halves every this many active windows (EWMA).'),
        warmup_tool_calls: z.number().int().positive().default(20)
          .describe('Tool calls a profile needs before a never-seen tool counts as a deviation.'),
      })
      .prefault({})
      .describe('How learned baselines form (per agent; tool mix per profile).'),
    notify: z
      .strictObject({
        webhook_url: z.url({ protocol: /^https?$/ }).optional()
          .describe('Where alert notices are POSTed (none: `notify` records `delivered: false`).'),
        format: z.enum(['json', 'slack']).default('json')
          .describe('`json` (the documented payload) or `slack` (an incoming-webhook message).'),
      })
      .prefault({})
      .describe('Alert notices: a webhook with the documented JSON payload, or Slack\'s incoming-webhook format.'),
    throttle: z
      .strictObject({
        requests_per_minute: z.number().int().positive().default(6).describe('Calls a minute a throttled session (or all the sessions of a throttled agent together) may make.'),
        duration_seconds: seconds(900).describe('How long a throttle lasts (resolving the alert lifts it sooner).'),
      })
      .prefault({})
      .describe('What `throttle_session` imposes.'),
    detectors: z
      .strictObject({
        spend_spike: detectorSchema({
          warning_ratio: z.number().gt(1).default(5)
            .describe('Spend in the current window this many times the usual window\'s: warning (critical_ratio: critical).'),
          critical_ratio: z.number().gt(1).default(20)
            .describe('Spend in the current window this many times the usual window\'s: critical.'),
          min_usd: z.number().nonnegative().default(0.01).describe('A window spending less than this never alerts (USD).'),
        }, ['notify'], ['notify', 'throttle_session']).describe('An agent\'s spend (or calls) in a window far above its usual window.'),
        retry_loop: detectorSchema({
          window_seconds: seconds(300).describe('How far back the same prompt is counted.'),
          repeats: z.number().int().min(2).default(10).describe('The same prompt this often in the window (answered or not): warning.'),
          failed_repeats: z.number().int().min(2).default(4).describe('The same prompt rejected this often in the window (the provider refuses it as sent — a 4xx other than 401, 403, 404, 408, 409 and 429 — or the model\'s tool call is blocked): critical. Failing this often otherwise (upstream 5xx, timeouts, rate limits, cut streams: an outage, which SDKs retry by themselves): warning.'),
        }, ['notify'], ['notify', 'suspend_session']).describe('One session sending the same prompt again and again.'),
        tool_deviation: detectorSchema({
          min_calls: z.number().int().positive().default(10).describe('A tool\'s calls in the window before its share is judged.'),
          share_ratio: z.number().gt(1).default(3)
            .describe('A tool\'s share of the agent\'s tool calls above this many times its share in the profile: warning.'),
          denied_calls: z.number().int().positive().default(5)
            .describe('Refused tool calls in the window (probing outside the scope): critical.'),
          // Agents often try a refused tool again: the default is to tell a human, not to suspend.
        }, ['notify'], ['notify']).describe('Tools outside the profile\'s mission or learned mix, and refused tool calls.'),
        out_of_task: detectorSchema({
          idle_seconds: seconds(1800).describe('A session called again after this long without calls.'),
          overrun_ratio: z.number().gt(1).default(2)
            .describe('A session still calling after this many times its profile\'s `mission.session_minutes`.'),
        }, [], ['notify']).describe('Calls after a long silence, past the task\'s expected length, or outside active hours.'),
        credential_misuse: detectorSchema({
          window_seconds: seconds(60).describe('How far back failed authentications from one source are counted.'),
          failed_auth: z.number().int().positive().default(10).describe('Failed authentications from one source in the window.'),
        }, ['notify'], ['notify', 'suspend_session'])
          .describe('A token used from two addresses at once, a revoked token presented again, repeated failed authentications.'),
        delegation: detectorSchema({}, ['notify'], ['notify']).describe('Delegation deeper or wider than the profile\'s mission expects.'),
      })
      .prefault({})
      .describe('Each detector\'s switch, thresholds and actions.'),
  })
  .prefault({});

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().default('127.0.0.1').describe('Address to listen on (`--host` overrides).'),
      port: z.number().int().min(0).max(65_535).default(8080).describe('Port (`--port` overrides; 0: any free port).'),
      body_limit_bytes: z.number().int().positive().default(4 * 1024 * 1024)
        .describe('Largest request body accepted on the data plane and the admin API.'),
      shutdown_grace_ms: z.number().int().nonnegative().default(10_000)
        .describe('How long in-flight calls may run on shutdown before they are cut.'),
      log_requests: z.boolean().default(true).describe('Emit one log line per data-plane request.'),
      // Limits (docs/security.md#limits): each bounds what one client can make the gateway hold.
      max_header_bytes: z.number().int().min(1024).max(1024 * 1024).default(16 * 1024)
        .describe('Largest request line and headers together (431 past it).'),
      headers_timeout_ms: z.number().int().positive().default(10_000)
        .describe('Time a client has to send its request headers (408 past it: slow-header clients).'),
      request_timeout_ms: z.number().int().positive().default(60_000)
        .describe('Time a client has to send its whole request, body included (408 past it: slow-body clients).'),
      max_json_depth: z.number().int().min(8).max(1000).default(128)
        .describe('Deepest nesting of arrays and objects in a JSON request body (400 `json_too_deep` past it).'),
      stream_max_seconds: z.number().int().positive().default(3600)
        .describe('Longest one upstream answer (streamed or not) is relayed; past it the upstream is cut and what was delivered is charged.'),
      max_concurrent_calls_per_session: z.number().int().nonnegative().default(512)
        .describe('Model calls one session may have in flight at once (429 `too_many_concurrent_calls` past it; 0 = no limit).'),
    })
    .prefault({})
    .describe('The HTTP listener and its limits.'),
  data_dir: z.string().default('.tollgate')
    .describe('Holds the SQLite file, the generated master key and admin token; relative to the working directory (`--data-dir` overrides).'),
  storage: z
    .strictObject({
      sqlite: z
        .strictObject({
          path: z.string().default('tollgate.db').describe('Database file; relative paths are under data_dir.'),
          synchronous: z.enum(['NORMAL', 'FULL']).default('NORMAL')
            .describe('NORMAL survives a killed process; FULL also survives power loss, at a write cost.'),
          write_thread: z.boolean().default(true)
            .describe('Commit holds, spend lines and audit events from a worker thread on its own connection, off the event loop (answers still wait for their commit).'),
          thread_nice: z.number().int().min(0).max(19).default(10)
            .describe('How many nice steps below the event loop the writer and checkpointer threads run (Linux; 0: the same priority). When the CPUs are contended the event loop runs first; the writer\'s batches grow instead.'),
        })
        .default({ path: 'tollgate.db', synchronous: 'NORMAL', write_thread: true, thread_nice: 10 })
        .describe('The embedded store (SQLite, WAL).'),
      postgres: z
        .strictObject({
          url: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL').optional()
            .describe('Connection URL (`postgres://user:password@host:5432/db`). Prefer url_env: a password here sits in the config file.'),
          url_env: z.string().optional().describe('Name of the environment variable holding the connection URL.'),
          schema: z.string().min(1).max(48).optional().describe('Schema holding Tollgate\'s tables (created if missing); default: the connection\'s search_path.'),
          pool_size: z.number().int().positive().default(10).describe('Connections each replica keeps in its pool.'),
          statement_timeout_ms: z.number().int().nonnegative().default(5000)
            .describe('Server-side limit per statement; a data-plane call whose statement passes it is refused with 503 store_unavailable.'),
          replica_timeout_seconds: z.number().positive().default(30)
            .describe('A replica whose heartbeat is older than this is dead: a survivor settles the holds of its calls in flight.'),
          resync_seconds: z.number().positive().default(30)
            .describe('How often each replica reloads revocations and drops cached sessions, agents, teams and profiles, besides the change feed (LISTEN/NOTIFY).'),
          replica_id: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/).optional()
            .describe('This replica\'s id (default: a random one per start). Reusing the id of a replica that died lets it settle its own holds at once on restart.'),
        })
        .refine((p) => (p.url === undefined) !== (p.url_env === undefined), 'give exactly one of url and url_env')
        .optional()
        .describe('The shared store (PostgreSQL) for several replicas: when set, it is used instead of SQLite (docs/operations.md#running-several-replicas).'),
      answer_after: z.enum(['hold', 'line']).default('hold')
        .describe('What is on disk before the end of a model call\'s answer is released: `hold` — its worst-case hold (written while the call is upstream; the answer then leaves, the call settles right after it, and its exact line and events commit next — a crash in between charges the hold at restart) — or `line` — its exact spend line and audit events (one commit more of latency).'),
      settle_delay_ms: z.number().int().min(0).max(1000).default(5)
        .describe('With `answer_after: hold`: how long an answered call\'s spend line and events may wait to share a commit — with the batch that gathers behind the one being written (under load), or with the lines of the calls that follow — rather than commit on their own; never with a hold alone, which an answer may wait for. A caller\'s calls back to back then commit about once each instead of twice. 0 writes them at once. Admin reads, shutdown and checkpoints write them first.'),
    })
    .default({ sqlite: { path: 'tollgate.db', synchronous: 'NORMAL', write_thread: true, thread_nice: 10 }, answer_after: 'hold', settle_delay_ms: 5 })
    .describe('Where state is kept.'),
  tokens: z
    .strictObject({
      issuer: z.string().default('tollgate').describe('`iss` of session tokens, checked on every call.'),
      audience: z.string().default('tollgate').describe('`aud` of session tokens, checked on every call.'),
      ttl_seconds: z.number().int().positive().default(900).describe('Session token lifetime; never past the session\'s own end.'),
      rotation_days: z.number().nonnegative().default(30)
        .describe('Rotate the signing key when it is older than this (0 = only on command).'),
      key_overlap_seconds: z.number().int().nonnegative().default(900)
        .describe('How long a rotated-out key still verifies (at least ttl_seconds is used).'),
    })
    .default({ issuer: 'tollgate', audience: 'tollgate', ttl_seconds: 900, rotation_days: 30, key_overlap_seconds: 900 })
    .describe('Session tokens (EdDSA JWTs) and their signing keys.'),
  budgets: z
    .strictObject({
      timezone: z
        .string()
        .default('UTC')
        .refine(isTimeZone, 'must be an IANA time zone name, e.g. UTC or Europe/Paris')
        .describe('Time zone (IANA name) whose midnight (and first of the month) resets day and month budgets.'),
    })
    .default({ timezone: 'UTC' })
    .describe('Budget periods.'),
  approvals: z
    .strictObject({
      webhook_url: z.url({ protocol: /^https?$/ }).optional()
        .describe('POSTed a JSON notice when an approval is requested and when it is decided.'),
      tool_approval_ttl_seconds: z.number().int().positive().max(86_400).default(600)
        .describe('How long an approved tool call may be used (once) after the decision.'),
      separation_of_duties: z.boolean().default(false)
        .describe('An operator may not approve anything (a budget step-up, a tool call, a resume) for a session of an agent they own (agent `owner` equal to the operator\'s name, case-insensitive) or declared through the admin API.'),
    })
    .default({ tool_approval_ttl_seconds: 600, separation_of_duties: false })
    .describe('Step-up approvals (budget thresholds, tool calls, resumes).'),
  delegation: z
    .strictObject({
      max_depth: z.number().int().min(0).max(32).default(4).describe('How many levels of child sessions below a root session.'),
      allow_cross_team: z.boolean().default(false)
        .describe('Allow delegating to an agent of another team (its team\'s budgets then pay for the child).'),
    })
    .default({ max_depth: 4, allow_cross_team: false })
    .describe('Child sessions opened by token exchange.'),
  federation: z
    .strictObject({
      issuers: z.array(federationIssuerSchema).default([]).describe('Trusted workload-identity issuers; an agent whose workload token they sign needs no secret.'),
    })
    .default({ issuers: [] })
    .describe('Workload identity federation (SPIFFE, Kubernetes, CI OIDC).'),
  identity: z
    .strictObject({
      shared_credential_window_seconds: z.number().int().nonnegative().default(60)
        .describe('One session token used from two source addresses within this window is flagged as shared (0 = off).'),
    })
    .default({ shared_credential_window_seconds: 60 })
    .describe('Agent identity checks.'),
  access_review: z
    .strictObject({
      window_days: z.number().int().positive().max(3650).default(30)
        .describe('The review window: grants are judged by the calls made in it (`?window_days=` overrides).'),
      unused_days: z.number().int().nonnegative().max(3650).default(30)
        .describe('A credential or agent unused this long is a finding (`?unused_days=` overrides).'),
      long_lived_days: z.number().int().positive().max(3650).default(90)
        .describe('A client secret that lives longer than this (or never expires) is a long-lived secret (OWASP NHI7).'),
    })
    .default({ window_days: 30, unused_days: 30, long_lived_days: 90 })
    .describe('Access review (docs/access-review.md).'),
  admin: z
    .strictObject({
      oidc: z
        .strictObject({
          issuer: z.url({ protocol: /^https?$/ }).describe('The identity provider\'s issuer URL (its `/.well-known/openid-configuration` is read).'),
          client_id: z.string().min(1).describe('The dashboard\'s client id at the identity provider.'),
          client_secret_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional()
            .describe('Environment variable holding the client secret (confidential clients); PKCE is used either way.'),
          groups_claim: z.string().min(1).default('groups').describe('ID-token claim listing the user\'s groups.'),
          name_claim: z.string().min(1).default('email').describe('ID-token claim naming the operator (falls back to `sub`).'),
          role_mapping: z.record(z.string(), z.enum(['viewer', 'approver', 'operator', 'admin'])).default({})
            .describe('Group → role; a user in several groups gets the highest role, a user in none is refused.'),
          scopes: z.array(z.string().min(1)).default(['openid', 'email', 'profile']).describe('Scopes asked for.'),
          redirect_uri: z.url({ protocol: /^https?$/ }).optional()
            .describe('The callback URL registered at the provider (default: this request\'s origin + `/admin/oidc/callback`; set it behind a TLS-terminating proxy).'),
          session_ttl_seconds: z.number().int().positive().max(86_400).default(28_800).describe('How long a dashboard sign-in lasts.'),
        })
        .optional()
        .describe('Dashboard sign-in through an OpenID Connect provider (authorization code + PKCE); unset: token sign-in only.'),
    })
    .default({})
    .describe('Operators and dashboard sign-in (docs/operators.md).'),
  logging: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Least severe level written (JSON lines on stdout).'),
    })
    .default({ level: 'info' })
    .describe('The gateway\'s log.'),
  policy: policySchema.default({ defaults: true, files: [], reload: true, cache_size: 10_000 })
    .describe('The Cedar policy engine (docs/policy.md).'),
  mcp_servers: z.array(mcpServerSchema).default([]).describe('MCP servers put behind `/mcp/{name}` (docs/mcp.md).'),
  mcp: z
    .strictObject({
      session_idle_seconds: z.number().int().positive().default(1800)
        .describe('An MCP session (Mcp-Session-Id) unused this long is dropped.'),
      allowed_hosts: z.array(z.string().min(1)).default([])
        .describe('Host names `/mcp/` answers besides loopback ones (DNS-rebinding protection); empty: loopback only on a loopback bind, any otherwise.'),
    })
    .default({ session_idle_seconds: 1800, allowed_hosts: [] })
    .describe('The MCP gateway.'),
  providers: z.array(providerSchema).default([]).describe('Upstream model APIs; their keys stay in the gateway.'),
  models: z.array(modelSchema).default([]).describe('The models agents may be granted, with prices.'),
  teams: z.array(teamSchema).default([]).describe('Who pays; applied at every start, matched by name.'),
  profiles: z.array(profileSchema).default([]).describe('Mission profiles: what a kind of agent may use and how it is expected to behave.'),
  agents: z.array(agentSchema).default([]).describe('Non-human identities; applied at every start (an agent\'s status is left as it is).'),
  audit: z
    .strictObject({
      checkpoint_interval_seconds: z.number().int().positive().default(300)
        .describe('Sign a checkpoint of the audit chain this often (and on clean shutdown).'),
      export: z
        .strictObject({
          jsonl_path: z.string().min(1).optional()
            .describe('JSON lines appended to this file (relative: under data_dir), or `-` for stdout.'),
          webhook_url: z.url({ protocol: /^https?$/ }).optional().describe('POSTed batches `{ events: [...] }`, retried with backoff.'),
          webhook_batch_size: z.number().int().positive().max(10_000).default(500).describe('Events per POST.'),
          webhook_max_queue: z.number().int().positive().default(10_000)
            .describe('Events held while the webhook is slow or down; beyond this they are dropped (and counted).'),
        })
        .default({ webhook_batch_size: 500, webhook_max_queue: 10_000 })
        .describe('Copies of every durable event, for log shippers and SIEMs.'),
      redaction: z
        .strictObject({
          patterns: z
            .array(z.strictObject({
              name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).describe('Matches become `[REDACTED:<name>]`.'),
              regex: z.string().min(1).max(1000).refine((r) => {
                try {
                  new RegExp(r, 'g');
                  return true;
                } catch {
                  return false;
                }
              }, 'not a valid regular expression').describe('A JavaScript regular expression, applied globally.'),
            }))
            .default([])
            .describe('Extra patterns, applied after the built-in ones.'),
          defaults: z.boolean().default(true).describe('Apply the built-in patterns (API keys, e-mail addresses, card numbers, US SSNs).'),
        })
        .default({ patterns: [], defaults: true })
        .describe('Secrets and personal data replaced by `[REDACTED:<name>]` in `full` content logging.'),
    })
    .default({ checkpoint_interval_seconds: 300, export: { webhook_batch_size: 500, webhook_max_queue: 10_000 }, redaction: { patterns: [], defaults: true } })
    .describe('The tamper-evident audit chain (docs/audit.md).'),
  detection: detectionSchema.describe('Behaviour detectors, alerts and automatic containment (docs/detection.md).'),
  telemetry: z
    .strictObject({
      metrics: z
        .strictObject({
          enabled: z.boolean().default(false).describe('Serve `GET /metrics`.'),
          token_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional()
            .describe('Environment variable holding a token scrapers must send as `Authorization: Bearer …`.'),
        })
        .default({ enabled: false })
        .describe('`GET /metrics` on the gateway port (Prometheus text format).'),
      otlp: z
        .strictObject({
          endpoint: z.url({ protocol: /^https?$/ }).describe('The collector\'s base URL (`/v1/traces` is appended unless already there).'),
          headers: z.record(z.string(), z.string()).default({}).describe('Non-secret headers sent with every export.'),
          headers_env: z.record(z.string(), z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/)).default({})
            .describe('Header name → environment variable holding its value (e.g. an API key).'),
          service_name: z.string().min(1).default('tollgate').describe('The `service.name` resource attribute.'),
        })
        .optional()
        .describe('Export a span per model call and per MCP call by OTLP/HTTP (JSON); unset: no traces.'),
    })
    .default({ metrics: { enabled: false } })
    .describe('Prometheus metrics and OpenTelemetry traces (docs/telemetry.md); both off by default.'),
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
