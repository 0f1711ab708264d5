// Content logging (docs/audit.md#content-logging): what a model was asked and answered, and what
// a tool was given and returned, per profile `content_logging.mode`:
//   off  — nothing (the default; one branch on the hot path);
//   hash — the SHA-256 of the exact text only;
//   full — the text with secrets and personal data redacted (the hash stays over the unredacted
//          text, so a text found elsewhere can be matched later).
// Rows go to their own table (audit_content) through a group commit, apart from the hash chain:
// purging them by retention never touches audit_events.
import { createHash } from 'node:crypto';
import type { ContentKind, ContentLogging, ContentRecord, Store } from '../store/index.js';
import { GroupCommit } from '../store/index.js';
import { newTimeOrderedId } from '../util/ids.js';
import type { Logger } from '../util/logger.js';

export interface RedactionPattern {
  name: string;
  regex: RegExp;
}

/**
 * Built-in patterns, applied in this order (the more specific key prefixes first). Each is
 * linear-safe: no nested quantifiers, and every repetition is over a character class.
 */
export const DEFAULT_REDACTION_PATTERNS: readonly RedactionPattern[] = [
  { name: 'anthropic_key', regex: /sk-ant-[A-Za-z0-9_-]{8,}/g },
  { name: 'api_key', regex: /\bsk-[A-Za-z0-9_-]{8,}/g },
  { name: 'tollgate_credential', regex: /\btgs_cred_[A-Za-z0-9_-]{8,}/g },
  { name: 'tollgate_token', regex: /\btga_[A-Za-z0-9_-]{8,}/g },
  { name: 'aws_key', regex: /\bAKIA[0-9A-Z]{16}\b/g },
  { name: 'github_token', regex: /\bgh[pousr]_[A-Za-z0-9]{20,}/g },
  { name: 'jwt', regex: /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g },
  { name: 'bearer', regex: /\bBearer [A-Za-z0-9._~+/-]{16,}=*/g },
  { name: 'email', regex: /[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}\b/g },
  { name: 'card_number', regex: /\b(?:\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{1,7}|\d{4}[ -]?\d{6}[ -]?\d{5})\b/g },
  { name: 'us_ssn', regex: /\b\d{3}-\d{2}-\d{4}\b/g },
];

/** Texts longer than this (in UTF-16 units) are cut before redaction; the hash covers the whole text. */
export const REDACTION_CAP_CHARS = 1 << 20;
export const TRUNCATED_MARK = '[TRUNCATED]';

export interface RedactionConfig {
  patterns: readonly { name: string; regex: string }[];
  defaults: boolean;
}

/** The patterns a configuration asks for: the built-ins (unless `defaults: false`), then its own. */
export function redactionPatterns(config: RedactionConfig = { patterns: [], defaults: true }): RedactionPattern[] {
  return [
    ...(config.defaults ? DEFAULT_REDACTION_PATTERNS : []),
    ...config.patterns.map((p) => ({ name: p.name, regex: new RegExp(p.regex, 'g') })),
  ];
}

/** Replaces each match by `[REDACTED:<name>]`; returns the text and how many matches it replaced. */
export function redact(text: string, patterns: readonly RedactionPattern[], cap = REDACTION_CAP_CHARS): { text: string; count: number } {
  let out = text.length > cap ? text.slice(0, cap) : text;
  let count = 0;
  for (const p of patterns) {
    out = out.replace(p.regex, () => {
      count++;
      return `[REDACTED:${p.name}]`;
    });
  }
  return { text: text.length > cap ? out + TRUNCATED_MARK : out, count };
}

export const sha256Hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** The prompt of a model call as logged: its system and messages (or input), as JSON text. */
export function promptText(body: Record<string, unknown>): string {
  const prompt: Record<string, unknown> = {};
  for (const key of ['system', 'instructions', 'messages', 'input', 'prompt']) if (body[key] !== undefined) prompt[key] = body[key];
  return JSON.stringify(prompt);
}

/**
 * A model call's `output` as content logging keeps it: the answer's text as the client received
 * it; when the answer called tools, `{"tool_calls":["NAME",…],"text":"…"}` (JSON text: the name of
 * each tool called, in order, and the text with the calls' arguments). Null when there is nothing
 * to keep — no text and no tool call (an embeddings call answers vectors, not text).
 */
export function modelOutput(text: string, toolCalls?: readonly string[]): string | null {
  if (toolCalls && toolCalls.length > 0) return JSON.stringify({ tool_calls: toolCalls, text });
  return text === '' ? null : text;
}

export interface ContentOwner {
  requestId: string;
  sessionId: string;
  agentId: string;
}

export class ContentLog {
  private readonly writer: GroupCommit<ContentRecord>;

  constructor(
    store: Store,
    private readonly patterns: readonly RedactionPattern[] = DEFAULT_REDACTION_PATTERNS,
    private readonly now: () => number = Date.now,
    private readonly logger?: Logger,
  ) {
    this.writer = new GroupCommit((rows) => store.appendContent(rows));
  }

  /**
   * Records texts of one call under the profile's setting. Resolves once they are durable; never
   * rejects (a failed write is logged: content logging never fails a call). Nothing happens
   * when the mode is `off`. An `output` is kept as `modelOutput` writes it: none when the answer
   * had nothing (an embeddings call), and naming the tools it called (`toolCalls`).
   */
  record(setting: ContentLogging | undefined, owner: ContentOwner, texts: readonly (readonly [ContentKind, string])[], toolCalls?: readonly string[]): Promise<void> {
    const mode = setting?.mode ?? 'off';
    if (mode === 'off' || texts.length === 0) return Promise.resolve();
    const createdAt = this.now();
    const kept: (readonly [ContentKind, string])[] = [];
    for (const [kind, text] of texts) {
      const body = kind === 'output' ? modelOutput(text, toolCalls) : text;
      if (body !== null) kept.push([kind, body]);
    }
    const writes = kept.map(([kind, text]) => {
      const redacted = mode === 'full' ? redact(text, this.patterns) : null;
      return this.writer.add({
        id: newTimeOrderedId('cnt'),
        ...owner,
        kind,
        sha256: sha256Hex(text),
        body: redacted ? redacted.text : null,
        redactions: redacted ? redacted.count : 0,
        createdAt,
      });
    });
    return Promise.all(writes).then(
      () => undefined,
      (err: unknown) => this.logger?.error({ err, request_id: owner.requestId }, 'audit content could not be written'),
    );
  }

  flush(): Promise<void> {
    return this.writer.flush();
  }
}

/**
 * Retention: deletes captured content older than its profile's `retention_days` (content of
 * sessions of each profile, by the profile's setting), then anything older than the longest
 * retention of any profile (content of sessions whose profile is gone). Returns the rows removed.
 * Run by the gateway's minute upkeep. Never touches the audit chain.
 */
export async function purgeExpiredContent(store: Store, now: number): Promise<number> {
  const profiles = await store.listProfiles();
  const byDays = new Map<number, string[]>();
  for (const p of profiles) {
    const days = p.contentLogging?.retentionDays ?? 30;
    byDays.set(days, [...(byDays.get(days) ?? []), p.id]);
  }
  let removed = 0;
  for (const [days, ids] of byDays) removed += await store.purgeContent(now - days * 86_400_000, ids);
  const longest = Math.max(30, ...byDays.keys());
  removed += await store.purgeContent(now - longest * 86_400_000);
  return removed;
}
