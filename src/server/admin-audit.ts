// Admin routes of the audit chain, spread into the admin route table (admin.ts).
import { z } from 'zod';
import { GatewayError } from '../errors/index.js';
import type { EventFilter } from '../store/index.js';
import type { AdminDeps, AdminRoute } from './admin.js';
import { timeParam } from './admin-reports.js';
import { eventView } from './views.js';
import { isoTime } from '../util/time.js';

const verifyQuery = z.object({
  after_seq: z.coerce.number().int().nonnegative().optional().describe('Carry on after this event (with after_hash): verification in slices'),
  after_hash: z.string().regex(/^[0-9a-f]{64}$/).optional().describe('The hash of event after_seq, as the previous slice reported it'),
  limit: z.coerce.number().int().positive().optional().describe('Verify at most this many events; `next` says where to carry on'),
});

const searchQuery = z.object({
  agent: z.string().optional().describe('Agent id or name'),
  session: z.string().optional().describe('Session id'),
  descendants: z.enum(['true', 'false']).optional().describe('With session: also every session delegated from it, at any depth (oldest first unless order says)'),
  team: z.string().optional().describe('Team id or name'),
  type: z.string().optional().describe('An event type, or a prefix ending in * (tool.*)'),
  since: z.string().optional().describe('From this time (ISO 8601 or epoch ms), inclusive'),
  until: z.string().optional().describe('To this time, exclusive'),
  order: z.enum(['asc', 'desc']).optional().describe('desc: newest first (default); asc: oldest first'),
  cursor: z.string().optional().describe('next_cursor of the previous page'),
  limit: z.coerce.number().int().min(1).max(1000).optional().describe('Events per page (default 100)'),
});

/** A cursor is opaque to clients: the order it was issued for and the seq of the last event seen. */
const encodeCursor = (order: 'asc' | 'desc', seq: number) => Buffer.from(JSON.stringify({ o: order, s: seq })).toString('base64url');

function decodeCursor(cursor: string): { order: 'asc' | 'desc'; seq: number } {
  try {
    const c = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o?: unknown; s?: unknown };
    if ((c.o === 'asc' || c.o === 'desc') && Number.isSafeInteger(c.s) && (c.s as number) >= 0) return { order: c.o, seq: c.s as number };
  } catch {
    // falls through
  }
  throw new GatewayError('invalid_request', 'cursor is not one this API issued', { param: 'cursor' });
}

/** GET /admin/v1/audit: events filtered, a page at a time (by seq), either order. */
async function searchAudit(query: Record<string, unknown>, d: AdminDeps) {
  const q = query as z.infer<typeof searchQuery>;
  const filter: EventFilter = { type: q.type, since: timeParam(q.since, 'since'), until: timeParam(q.until, 'until') };
  if (q.agent) {
    const agent = await d.store.getAgent(q.agent);
    if (!agent) throw new GatewayError('not_found', `agent "${q.agent}" does not exist`, { param: 'agent' });
    filter.agentId = agent.id;
  }
  if (q.team) {
    const team = await d.store.getTeam(q.team);
    if (!team) throw new GatewayError('not_found', `team "${q.team}" does not exist`, { param: 'team' });
    filter.teamId = team.id;
  }
  const descendants = q.descendants === 'true';
  if (descendants) {
    if (!q.session) throw new GatewayError('invalid_request', 'descendants=true needs a session', { param: 'session' });
    const tree = await d.store.sessionTree(q.session);
    if (tree.length === 0) throw new GatewayError('not_found', `session "${q.session}" does not exist`, { param: 'session' });
    filter.sessionIds = tree.map((s) => s.id);
  } else if (q.session) {
    filter.sessionId = q.session;
  }
  // The investigation view reads as a story: oldest first unless asked otherwise.
  let order = q.order ?? (descendants ? 'asc' : 'desc');
  if (q.cursor) {
    const c = decodeCursor(q.cursor);
    if (q.order && q.order !== c.order) throw new GatewayError('invalid_request', `cursor was issued for order=${c.order}`, { param: 'cursor' });
    order = c.order;
    if (order === 'asc') filter.afterSeq = c.seq;
    else filter.beforeSeq = c.seq;
  }
  const limit = q.limit ?? 100;
  const found = await d.store.searchEvents({ ...filter, order, limit: limit + 1 });
  const page = found.slice(0, limit);
  const hasMore = found.length > limit;
  const last = page.at(-1);
  // Oldest first, a cursor is always answered (where the page ended, or where it started when
  // nothing was new): polling it follows the log. Newest first, it ends with the log.
  const position = last?.seq ?? (q.cursor ? decodeCursor(q.cursor).seq : 0);
  const nextCursor = order === 'asc' ? encodeCursor('asc', position) : hasMore && last ? encodeCursor('desc', last.seq) : null;
  // Where to follow from: oldest first, after the newest event of this page (a tail's first
  // page is newest first; polling this cursor then shows what comes after it).
  const newest = page.reduce((n, e) => Math.max(n, e.seq), order === 'asc' ? position : 0);
  return { object: 'list', order, data: page.map((e) => ({ seq: e.seq, ...eventView(e) })), has_more: hasMore, next_cursor: nextCursor, follow_cursor: encodeCursor('asc', newest) };
}

const contentQuery = z.object({
  request: z.string().optional().describe('Request id'),
  session: z.string().optional().describe('Session id'),
  limit: z.coerce.number().int().min(1).max(1000).optional().describe('Rows (default 100), newest first'),
});

/** GET /admin/v1/audit/content: captured prompts, outputs, tool arguments and results. */
async function listContent(query: Record<string, unknown>, d: AdminDeps) {
  const q = query as z.infer<typeof contentQuery>;
  const rows = await d.store.listContent({ requestId: q.request, sessionId: q.session, limit: q.limit ?? 100 });
  return {
    object: 'list',
    data: rows.map((c) => ({
      id: c.id, request_id: c.requestId, session_id: c.sessionId, agent_id: c.agentId, kind: c.kind,
      sha256: c.sha256, body: c.body, redactions: c.redactions, created_at: isoTime(c.createdAt),
    })),
  };
}

export const AUDIT_ROUTES: AdminRoute[] = [
  {
    method: 'GET', path: '/admin/v1/audit/content', tag: 'audit',
    summary: 'Captured content (content logging): prompts, outputs, tool arguments and results of a request or session, newest first',
    query: contentQuery,
    handle: async (i, d) => listContent(i.query, d),
  },
  {
    method: 'GET', path: '/admin/v1/audit', tag: 'audit',
    summary: 'Search audit events (agent, session and its descendants, team, type prefix, time range), a page at a time with a cursor',
    query: searchQuery,
    handle: async (i, d) => searchAudit(i.query, d),
  },
  {
    method: 'GET', path: '/admin/v1/audit/verify', tag: 'audit',
    summary: 'Verify the audit chain (hashes, links, signed checkpoints): intact, or the first broken event',
    query: verifyQuery,
    handle: async (i, d) => {
      const q = i.query as z.infer<typeof verifyQuery>;
      if ((q.after_seq === undefined) !== (q.after_hash === undefined)) {
        throw new GatewayError('invalid_request', 'after_seq and after_hash go together', { param: q.after_seq === undefined ? 'after_seq' : 'after_hash' });
      }
      const from = q.after_seq !== undefined && q.after_hash !== undefined ? { seq: q.after_seq, hash: q.after_hash } : undefined;
      return d.audit.verify({ from, maxEvents: q.limit });
    },
  },
  {
    method: 'POST', path: '/admin/v1/audit/breaks/{seq}/acknowledge', tag: 'audit',
    summary: 'Acknowledge the break that stops checkpoints, once looked into: a checkpoint anchors the chain again at that event, and what follows is sealed from there (verification still reports the break, as acknowledged)',
    body: z.strictObject({ reason: z.string().trim().min(1).max(500).describe('What was found, and why the chain may go on: kept in the checkpoint and the audit log') }),
    handle: async (i, d) => {
      const seq = Number(i.params.seq);
      if (!Number.isSafeInteger(seq) || seq < 1) throw new GatewayError('invalid_request', `"${i.params.seq!.slice(0, 40)}" is not an event's seq`, { param: 'seq' });
      const { reason } = i.body as { reason: string };
      const { first_broken: broken, checkpoint } = await d.audit.acknowledgeBreak(seq, reason, { actor: i.by.actor, operator: i.by.operator, requestId: i.by.requestId });
      return { acknowledged: broken, note: reason, by: i.by.actor, checkpoint: { id: checkpoint.id, last_seq: checkpoint.lastSeq, last_hash: checkpoint.lastHash, time: isoTime(checkpoint.time), kid: checkpoint.kid } };
    },
  },
];
