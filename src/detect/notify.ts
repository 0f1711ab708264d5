// Alert notices: a POST of the documented JSON payload (docs/detection.md#notifications), or a
// Slack incoming-webhook message. Fire and forget, bounded in time: a dead receiver never slows
// detection or the data plane; failures are logged without the URL's query (it may hold a key).
import type { Logger } from 'pino';
import type { Alert } from '../store/index.js';
import { alertJson } from './view.js';

export type NoticeEvent = 'alert.raised' | 'alert.escalated';

export class Notifier {
  constructor(
    private readonly url: string | undefined,
    private readonly format: 'json' | 'slack',
    private readonly logger: Logger,
  ) {}

  get enabled(): boolean {
    return this.url !== undefined;
  }

  /** Sends the notice; resolves to whether the receiver took it (never rejects). */
  send(event: NoticeEvent, alert: Alert, agentName: string | null): Promise<boolean> {
    if (!this.url) return Promise.resolve(false);
    const body = this.format === 'slack' ? slackMessage(event, alert, agentName) : { event, alert: alertJson(alert, agentName) };
    return fetch(this.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(5000) }).then(
      (res) => {
        if (!res.ok) this.logger.warn({ status: res.status, event, alert: alert.id }, 'alert webhook refused the notice');
        return res.ok;
      },
      (err: unknown) => {
        this.logger.warn({ err: (err as Error).message, event, alert: alert.id }, 'alert webhook failed');
        return false;
      },
    );
  }
}

const ICON = { info: ':information_source:', warning: ':warning:', critical: ':rotating_light:' } as const;

/** Slack's incoming-webhook shape: `text` (the fallback) and Block Kit blocks. */
function slackMessage(event: NoticeEvent, a: Alert, agentName: string | null) {
  const who = [agentName ? `agent *${agentName}*` : a.agentId ? `agent \`${a.agentId}\`` : null, a.sessionId ? `session \`${a.sessionId}\`` : null].filter(Boolean).join(', ');
  const text = `${ICON[a.severity]} [${a.severity}] ${a.detector}${event === 'alert.escalated' ? ' (escalated)' : ''}: ${a.summary}`;
  const fields = [`*Alert:* \`${a.id}\``, who && `*Who:* ${who}`, a.verdict && `*Triage:* ${a.verdict.replaceAll('_', ' ')}`, a.actions.length > 0 && `*Actions:* ${a.actions.map((x) => x.action).join(', ')}`].filter(Boolean);
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      { type: 'context', elements: fields.map((f) => ({ type: 'mrkdwn', text: f })) },
    ],
  };
}
