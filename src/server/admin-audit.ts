// Admin routes of the audit chain, spread into the admin route table (admin.ts).
import { z } from 'zod';
import { GatewayError } from '../errors/index.js';
import type { AdminRoute } from './admin.js';

const verifyQuery = z.object({
  after_seq: z.coerce.number().int().nonnegative().optional().describe('Carry on after this event (with after_hash): verification in slices'),
  after_hash: z.string().regex(/^[0-9a-f]{64}$/).optional().describe('The hash of event after_seq, as the previous slice reported it'),
  limit: z.coerce.number().int().positive().optional().describe('Verify at most this many events; `next` says where to carry on'),
});

export const AUDIT_ROUTES: AdminRoute[] = [
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
];
