// The change feed: what another replica changed, pushed to this one. Triggers (migration 9)
// announce revocations, status changes (sessions, agents, credentials), budget and scope changes
// and signing keys with pg_notify on the channel 'tollgate.<schema>'; this process LISTENs on a
// dedicated connection and drops or updates what it caches. A periodic resync is the safety net
// (and runs at once after the LISTEN connection is lost and regained: notifications sent while
// it was down are gone).
import type pg from 'pg';
import type { Logger } from 'pino';
import type { PostgresStore } from '../store/index.js';

export interface Change {
  table: string;
  id: string;
  expires_at?: number | null;
}

export interface ChangeFeedOptions {
  resyncMs: number;
  logger: Logger;
  onChange: (change: Change) => void | Promise<void>;
  onResync: () => Promise<void>;
}

const RECONNECT_MAX_MS = 5_000;

export class ChangeFeed {
  private client: pg.Client | null = null;
  private resyncTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectMs = 100;
  private closed = false;
  private channel = '';
  /** Notifications received (tests and the bench read it). */
  received = 0;

  constructor(
    private readonly store: PostgresStore,
    private readonly options: ChangeFeedOptions,
  ) {}

  async start(): Promise<void> {
    const [row] = await this.store.query('SELECT current_schema() AS schema');
    this.channel = `tollgate.${String(row?.schema)}`;
    await this.connect();
    this.resyncTimer = setInterval(() => void this.resync(), this.options.resyncMs);
    this.resyncTimer.unref();
  }

  private async connect(): Promise<void> {
    const client = this.store.dedicatedClient();
    client.on('notification', (msg) => {
      if (msg.channel !== this.channel || !msg.payload) return;
      this.received++;
      let change: Change;
      try {
        change = JSON.parse(msg.payload) as Change;
      } catch {
        return;
      }
      Promise.resolve(this.options.onChange(change)).catch((err: unknown) => this.options.logger.warn({ err, change }, 'change feed: applying a change failed'));
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, null));
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel.replace(/"/g, '""')}"`);
      this.client = client;
      this.reconnectMs = 100;
    } catch (err) {
      this.lost(client, err);
      throw err;
    }
  }

  /** The LISTEN connection is gone: reconnect with backoff, then resync what may have been missed. */
  private lost(client: pg.Client, err: unknown): void {
    if (this.client !== null && this.client !== client) return;
    this.client = null;
    client.removeAllListeners('notification');
    client.end().catch(() => undefined);
    if (this.closed || this.reconnectTimer) return;
    this.options.logger.warn({ err, retry_ms: this.reconnectMs }, 'change feed: connection lost; reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect().then(
        () => this.resync(),
        () => undefined,
      );
    }, this.reconnectMs);
    this.reconnectTimer.unref();
    this.reconnectMs = Math.min(this.reconnectMs * 2, RECONNECT_MAX_MS);
  }

  async resync(): Promise<void> {
    try {
      await this.options.onResync();
    } catch (err) {
      this.options.logger.warn({ err }, 'change feed: resync failed');
    }
  }

  get listening(): boolean {
    return this.client !== null;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }
}
