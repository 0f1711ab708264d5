// The audit record: control-plane and security events (tokens issued and refused, sessions opened,
// delegated and revoked, secrets issued, keys rotated), appended through a group commit.
import type { AuditEvent, Store } from '../store/index.js';
import { GroupCommit } from '../store/index.js';
import { newId } from '../util/ids.js';

export type NewEvent = Pick<AuditEvent, 'type' | 'actor'> & Partial<Omit<AuditEvent, 'id' | 'time' | 'type' | 'actor'>>;

export class AuditLog {
  private readonly writer: GroupCommit<AuditEvent>;

  constructor(
    store: Store,
    private readonly now: () => number = Date.now,
  ) {
    this.writer = new GroupCommit((events) => store.appendEvents(events));
  }

  /** Appends an event; resolves once it is durable. */
  record(e: NewEvent): Promise<void> {
    return this.writer.add({
      id: newId('evt'),
      time: this.now(),
      type: e.type,
      actor: e.actor,
      requestId: e.requestId ?? null,
      agentId: e.agentId ?? null,
      sessionId: e.sessionId ?? null,
      teamId: e.teamId ?? null,
      chain: e.chain ?? null,
      data: e.data ?? {},
    });
  }

  flush(): Promise<void> {
    return this.writer.flush();
  }
}
