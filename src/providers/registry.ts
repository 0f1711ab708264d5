// Providers and models at run time: each provider gets one pooled keep-alive connection set,
// its key read once from the environment, and precomputed endpoints per API; each model maps
// the name agents ask for to a provider, an upstream model name and a price.
import { Pool } from 'undici';
import type { Config, ProviderConfig } from '../config/index.js';
import type { ApiKind } from './apis/index.js';
import { priceFromConfig, type Price } from './pricing.js';
import { createSimulatedProvider, type SimulatedProvider } from './simulated/index.js';

/** How one provider type differs from the others: nothing else in the code names a vendor. */
interface ProviderType {
  apis: readonly ApiKind[];
  /** URL that an API adapter's `upstreamPath` is relative to. */
  apiBase(baseUrl: string, api: ApiKind): string;
  authHeaders(apiKey: string): Record<string, string>;
  /** Client headers passed through to the upstream (API versions, beta flags). */
  forwardHeaders: readonly string[];
}

const stripSlash = (url: string) => url.replace(/\/+$/, '');

const PROVIDER_TYPES: Record<ProviderConfig['type'], ProviderType> = {
  openai: {
    apis: ['openai.chat', 'openai.embeddings'],
    apiBase: (base) => stripSlash(base),
    authHeaders: (key) => ({ authorization: `Bearer ${key}` }),
    forwardHeaders: ['openai-beta'],
  },
  anthropic: {
    apis: ['anthropic.messages'],
    apiBase: (base) => stripSlash(base),
    authHeaders: (key) => ({ 'x-api-key': key }),
    forwardHeaders: ['anthropic-version', 'anthropic-beta'],
  },
  simulated: {
    apis: ['openai.chat', 'openai.embeddings', 'anthropic.messages'],
    // The simulator serves OpenAI's API under /v1 and Anthropic's at its origin, like the real ones.
    apiBase: (base, api) => (api.startsWith('openai.') ? `${stripSlash(base)}/v1` : stripSlash(base)),
    authHeaders: (key) => ({ authorization: `Bearer ${key}` }),
    forwardHeaders: ['anthropic-version', 'anthropic-beta', 'openai-beta'],
  },
};

export interface Endpoint {
  path: string;
}

export interface ProviderRuntime {
  readonly name: string;
  readonly type: ProviderConfig['type'];
  readonly timeoutMs: number;
  readonly forwardHeaders: readonly string[];
  /** The most sensitive data class this provider is approved for. */
  readonly approvedDataSensitivity: ProviderConfig['approved_data_sensitivity'];
  /** Undefined until `start()` for simulated providers; null when the API is not served. */
  endpoint(api: ApiKind): Endpoint | null;
  /** Headers carrying the provider key (empty when none is configured). */
  readonly authHeaders: Record<string, string>;
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
}

class Provider implements ProviderRuntime {
  readonly name: string;
  readonly type: ProviderConfig['type'];
  readonly timeoutMs: number;
  readonly forwardHeaders: readonly string[];
  readonly approvedDataSensitivity: ProviderConfig['approved_data_sensitivity'];
  readonly authHeaders: Record<string, string>;
  readonly missingKey: boolean;
  private endpoints = new Map<ApiKind, Endpoint>();
  private connectionPool: Pool | null = null;
  simulated: SimulatedProvider | null = null;

  constructor(private readonly config: ProviderConfig, env: NodeJS.ProcessEnv) {
    const type = PROVIDER_TYPES[config.type];
    this.name = config.name;
    this.type = config.type;
    this.timeoutMs = config.timeout_ms;
    this.forwardHeaders = type.forwardHeaders;
    this.approvedDataSensitivity = config.approved_data_sensitivity;
    const key = config.api_key_env ? env[config.api_key_env] : undefined;
    this.authHeaders = key ? type.authHeaders(key) : {};
    this.missingKey = config.type !== 'simulated' && !key;
    if (config.base_url) this.bind(config.base_url);
  }

  /** Points the provider at `baseUrl` and opens its connection pool. */
  bind(baseUrl: string): void {
    const type = PROVIDER_TYPES[this.config.type];
    const origin = new URL(baseUrl).origin;
    for (const api of type.apis) {
      const base = new URL(type.apiBase(baseUrl, api));
      this.endpoints.set(api, { path: base.pathname.replace(/\/+$/, '') });
    }
    this.connectionPool = new Pool(origin, {
      connections: this.config.max_connections,
      keepAliveTimeout: 60_000,
      keepAliveMaxTimeout: 600_000,
      pipelining: 1,
    });
  }

  endpoint(api: ApiKind): Endpoint | null {
    return this.endpoints.get(api) ?? null;
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

export class ProviderRegistry {
  private readonly providers = new Map<string, Provider>();
  private readonly models = new Map<string, ModelRoute>();

  constructor(config: Config, env: NodeJS.ProcessEnv = process.env) {
    for (const p of config.providers) this.providers.set(p.name, new Provider(p, env));
    for (const m of config.models) {
      this.models.set(m.name, {
        name: m.name,
        upstreamModel: m.upstream_model ?? m.name,
        provider: this.providers.get(m.provider)!,
        price: priceFromConfig(m.price),
        maxOutputTokens: m.max_output_tokens,
      });
    }
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

  /** URL of an in-process simulated provider (for demos and tests). */
  simulatedUrl(name: string): string | undefined {
    return this.providers.get(name)?.simulated?.url;
  }
}
