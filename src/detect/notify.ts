// Alert notices: a POST of the documented JSON payload (docs/detection.md#notifications), or a
// Slack incoming-webhook message. Fire and forget, bounded in time: a dead receiver never slows
// detection or the data plane; failures are logged without the URL's credentials or query.
import type { Logger } from 'pino';
import type { Alert } from '../store/index.js';
import { WebhookTarget } from '../util/webhook.js';
import { alertJson } from './view.js';

export type NoticeEvent = 'alert.raised' | 'alert.escalated';

export class Notifier {
  private readonly target: WebhookTarget | undefined;

  constructor(
    url: string | undefined,
    private readonly format: 'json' | 'slack',
    private readonly logger: Logger,
  ) {
    this.target = url ? new WebhookTarget(url) : undefined;
  }

  get enabled(): boolean {
    return this.target !== undefined;
  }

  /** Sends the notice; resolves to whether the receiver took it (never rejects). */
  send(event: NoticeEvent, alert: Alert, agentName: string | null): Promise<boolean> {
    if (!this.target) return Promise.resolve(false);
    const body = this.format === 'slack' ? slackMessage(event, alert, agentName) : { event, alert: alertJson(alert, agentName) };
    return this.target.post(JSON.stringify(body), {}, 5000).then(
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
