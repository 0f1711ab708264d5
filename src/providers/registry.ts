// Providers and models at run time: each provider gets one pooled keep-alive connection set and
// its key read once from the environment; each model maps the name agents ask for to a provider,
// an upstream model name, a price (catalog, config, or both) and its ordered fallbacks.
import { Pool } from 'undici';
import type { Config, ProviderConfig } from '../config/index.js';
import type { ApiKind } from './apis/index.js';
import { catalogContextWindow, catalogPrice } from './catalog.js';
import { defaultMaxImageTokens, type PromptLimits } from './prompt-tokens.js';
import { mergePrice, UNPRICED, type Price } from './pricing.js';
import { tokenizerFor, type Tokenizer } from './tokenizer.js';
import { createSimulatedProvider, type SimulatedProvider } from './simulated/index.js';

/** How one provider type differs from the others: nothing else in the code names a vendor. */
interface ProviderType {
  apis: readonly ApiKind[];
  /**
   * The request path of a call: `base` is the base URL's path (no trailing slash), `apiPath`
   * the API adapter's (`/chat/completions`), `model` the upstream model name.
   */
  path(base: string, apiPath: string, api: ApiKind, model: string, config: ProviderConfig): string;
  authHeaders(apiKey: string): Record<string, string>;
  /** Client headers passed through to the upstream (API versions, beta flags). */
  forwardHeaders: readonly string[];
  /** False for servers that may run without a key (local vLLM, Ollama, llama.cpp). */
  keyRequired: boolean;
  /** The price catalog's provider ids to look a model up at, in order (none: no catalog prices). */
  catalogProviders: readonly string[];
}

/**
 * The one OpenAI-compatible base (https://platform.openai.com/docs/api-reference): Bearer key,
 * `{base_url}/chat/completions`. Each OpenAI-compatible type below states only how it differs.
 */
const OPENAI_COMPATIBLE: ProviderType = {
  apis: ['openai.chat', 'openai.embeddings'],
  path: (base, apiPath) => base + apiPath,
  authHeaders: (key) => ({ authorization: `Bearer ${key}` }),
  forwardHeaders: [],
  keyRequired: true,
  catalogProviders: [],
};

const PROVIDER_TYPES: Record<ProviderConfig['type'], ProviderType> = {
  openai: { ...OPENAI_COMPATIBLE, apis: [...OPENAI_COMPATIBLE.apis, 'openai.responses'], forwardHeaders: ['openai-beta'], catalogProviders: ['openai'] },
  // https://learn.microsoft.com/azure/ai-services/openai/reference: the deployment is in the
  // URL, the version in the query, the key in `api-key`. The upstream model is the deployment.
  azure_openai: {
    ...OPENAI_COMPATIBLE,
    path: (base, apiPath, _api, model, config) => `${base}/openai/deployments/${encodeURIComponent(model)}${apiPath}?api-version=${encodeURIComponent(config.api_version ?? '')}`,
    authHeaders: (key) => ({ 'api-key': key }),
    catalogProviders: ['azure'],
  },
  // https://ai.google.dev/gemini-api/docs/openai: base_url …/v1beta/openai, Bearer key.
  gemini: { ...OPENAI_COMPATIBLE, catalogProviders: ['google'] },
  // https://openrouter.ai/docs/api-reference/overview: models named `vendor/model`.
  openrouter: { ...OPENAI_COMPATIBLE, catalogProviders: ['openrouter'] },
  // vLLM, Ollama, llama.cpp server and the like: maybe keyless, their own prices (none in the catalog).
  openai_compatible: { ...OPENAI_COMPATIBLE, apis: [...OPENAI_COMPATIBLE.apis, 'openai.responses'], keyRequired: false },
  anthropic: {
    apis: ['anthropic.messages'],
    path: (base, apiPath) => base + apiPath,
    authHeaders: (key) => ({ 'x-api-key': key }),
    forwardHeaders: ['anthropic-version', 'anthropic-beta'],
    keyRequired: true,
    catalogProviders: ['anthropic'],
  },
  simulated: {
    apis: ['openai.chat', 'openai.embeddings', 'openai.responses', 'anthropic.messages'],
    // The simulator serves OpenAI's API under /v1 and Anthropic's at its origin, like the real ones.
    path: (base, apiPath, api) => (api.startsWith('openai.') ? `${base}/v1${apiPath}` : base + apiPath),
    authHeaders: (key) => ({ authorization: `Bearer ${key}` }),
    forwardHeaders: ['anthropic-version', 'anthropic-beta', 'openai-beta'],
    keyRequired: false,
    // It stands in for OpenAI and Anthropic: a model is priced as whoever sells it.
    catalogProviders: ['openai', 'anthropic', 'google'],
  },
};

/** The APIs a provider of this type serves (a fallback on another provider must serve one of its model's). */
export function providerApis(type: ProviderConfig['type']): readonly ApiKind[] {
  return PROVIDER_TYPES[type].apis;
}

export interface ProviderRuntime {
  readonly name: string;
  readonly type: ProviderConfig['type'];
  readonly timeoutMs: number;
  readonly forwardHeaders: readonly string[];
  /** The most sensitive data class this provider is approved for. */
  readonly approvedDataSensitivity: ProviderConfig['approved_data_sensitivity'];
  /** Whether this provider serves `api`. */
  serves(api: ApiKind): boolean;
  /** The upstream request path for a call of `api` (adapter path `apiPath`) to `upstreamModel`. */
  requestPath(api: ApiKind, apiPath: string, upstreamModel: string): string;
  /** Headers sent with every upstream request: the provider key and configured headers. */
  readonly headers: Record<string, string>;
  /** True when the provider needs a key and none was found in the environment. */
  readonly missingKey: boolean;
  pool(): Pool;
}

export interface ModelRoute {
  name: string;
  upstreamModel: string;
  provider: ProviderRuntime;
  price: Price;
  maxOutputTokens: number;
  /** What one call's prompt can be billed at most (`promptTokensUpperBound`). */
  limits: PromptLimits;
  /** Models tried in order when this one's upstream fails (their own fallbacks are not followed). */
  fallbacks: ModelRoute[];
  /** Counts its tokens for reservations and for usage the upstream did not report. */
  tokenizer: Tokenizer;
}

class Provider implements ProviderRuntime {
  readonly name: string;
  readonly type: ProviderConfig['type'];
  readonly timeoutMs: number;
  readonly forwardHeaders: readonly string[];
  readonly approvedDataSensitivity: ProviderConfig['approved_data_sensitivity'];
  readonly headers: Record<string, string>;
  readonly missingKey: boolean;
  private readonly kind: ProviderType;
  /** The base URL's path, without a trailing slash; null until bound. */
  private basePath: string | null = null;
  private connectionPool: Pool | null = null;
  simulated: SimulatedProvider | null = null;

  /** The price catalog's ids for this provider's models (`openai`, `anthropic`…). */
  get catalogProviders(): readonly string[] {
    return this.kind.catalogProviders;
  }

  constructor(private readonly config: ProviderConfig, env: NodeJS.ProcessEnv) {
    this.kind = PROVIDER_TYPES[config.type];
    this.name = config.name;
    this.type = config.type;
    this.timeoutMs = config.timeout_ms;
    this.forwardHeaders = this.kind.forwardHeaders;
    this.approvedDataSensitivity = config.approved_data_sensitivity;
    const key = config.api_key_env ? env[config.api_key_env] : undefined;
    // Configured headers first: they may never replace the key's header.
    this.headers = { ...config.headers, ...(key ? this.kind.authHeaders(key) : {}) };
    // A keyless type still needs the key it was told to use.
    this.missingKey = !key && (this.kind.keyRequired || config.api_key_env !== undefined);
    if (config.base_url) this.bind(config.base_url);
  }

  /** Points the provider at `baseUrl` and opens its connection pool. */
  bind(baseUrl: string): void {
    const url = new URL(baseUrl);
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.connectionPool = new Pool(url.origin, {
      connections: this.config.max_connections,
      keepAliveTimeout: 60_000,
      keepAliveMaxTimeout: 600_000,
      pipelining: 1,
    });
  }

  serves(api: ApiKind): boolean {
    return this.basePath !== null && this.kind.apis.includes(api);
  }

  requestPath(api: ApiKind, apiPath: string, upstreamModel: string): string {
    return this.kind.path(this.basePath ?? '', apiPath, api, upstreamModel, this.config);
  }

  pool(): Pool {
    if (!this.connectionPool) throw new Error(`provider ${this.name} is not started`);
    return this.connectionPool;
  }

  async start(): Promise<void> {
    if (this.config.type !== 'simulated' || this.simulated) return;
    const o = this.config.simulated;
    this.simulated = await createSimulatedProvider({
      host: '127.0.0.1',
      port: 0,
      latencyMs: o?.latency_ms ?? 0,
      tokensPerSecond: o?.tokens_per_second ?? 0,
      failureRate: o?.failure_rate ?? 0,
      defaultOutputTokens: o?.default_output_tokens ?? 32,
      cachedPromptShare: o?.cached_prompt_share ?? 0,
    });
    this.bind(this.simulated.url);
  }

  async close(): Promise<void> {
    await this.connectionPool?.close().catch(() => undefined);
    await this.simulated?.close();
  }
}

/** A model's context window when neither its config nor the catalog gives one. */
const DEFAULT_CONTEXT_WINDOW = 1_000_000;

/** The name a model is looked up by in the price catalog and the tokenizers. */
function catalogName(m: Config['models'][number]): string {
  return m.catalog_model ?? m.upstream_model ?? m.name;
}

/**
 * Each model's price: the catalog's (looked up as `catalog_model`, else `upstream_model`, else
 * `name`, at its provider's catalog id) with the config's fields laid over it. A model neither
 * prices is UNPRICED. Throws, naming every model, when a config price is partial and the catalog
 * cannot complete it.
 */
export function modelPrices(config: Config, at: Date = new Date()): Map<string, Price> {
  const types = new Map(config.providers.map((p) => [p.name, PROVIDER_TYPES[p.type]]));
  const prices = new Map<string, Price>();
  const problems: string[] = [];
  config.models.forEach((m, i) => {
    const catalog = catalogPrice(catalogName(m), types.get(m.provider)?.catalogProviders ?? [], at);
    const price = mergePrice(catalog, m.price);
    if (price === null && m.price) problems.push(`models[${i}] "${m.name}": price needs input and output (the catalog has no price for it)`);
    prices.set(m.name, price ?? UNPRICED);
  });
  if (problems.length > 0) throw new Error(`invalid model prices:\n  - ${problems.join('\n  - ')}`);
  return prices;
}

export class ProviderRegistry {
  private readonly providers = new Map<string, Provider>();
  private readonly models = new Map<string, ModelRoute>();

  constructor(config: Config, env: NodeJS.ProcessEnv = process.env) {
    for (const p of config.providers) this.providers.set(p.name, new Provider(p, env));
    const prices = modelPrices(config);
    for (const m of config.models) {
      const provider = this.providers.get(m.provider)!;
      this.models.set(m.name, {
        name: m.name,
        upstreamModel: m.upstream_model ?? m.name,
        provider,
        price: prices.get(m.name)!,
        maxOutputTokens: m.max_output_tokens,
        limits: {
          contextWindow: m.context_window ?? catalogContextWindow(catalogName(m), provider.catalogProviders) ?? DEFAULT_CONTEXT_WINDOW,
          maxImageTokens: m.max_image_tokens ?? defaultMaxImageTokens(catalogName(m)),
        },
        fallbacks: [],
        tokenizer: tokenizerFor(catalogName(m)),
      });
    }
    for (const m of config.models) this.models.get(m.name)!.fallbacks = m.fallbacks.map((f) => this.models.get(f)!);
  }

  /** Starts in-process simulated providers. */
  async start(): Promise<void> {
    await Promise.all([...this.providers.values()].map((p) => p.start()));
  }

  async close(): Promise<void> {
    await Promise.all([...this.providers.values()].map((p) => p.close()));
  }

  /** Exact-match lookup: no case folding or trimming, so look-alike names never match. */
  model(name: string): ModelRoute | undefined {
    return this.models.get(name);
  }

  listModels(): ModelRoute[] {
    return [...this.models.values()];
  }

  provider(name: string): ProviderRuntime | undefined {
    return this.providers.get(name);
  }

  /** Providers whose key variable is unset: their models answer 503 `provider_not_configured`. */
  withoutKey(): string[] {
    return [...this.providers.values()].filter((p) => p.missingKey).map((p) => p.name);
  }

  /** URL of an in-process simulated provider (for demos and tests). */
  simulatedUrl(name: string): string | undefined {
    return this.providers.get(name)?.simulated?.url;
  }
}
