// Admin routes of operator identities (docs/operators.md), spread into the admin route table
// (admin.ts): who is calling, the named operators, and creating (token shown once) or disabling one.
import { z } from 'zod';
import { GatewayError } from '../errors/index.js';
import { OPERATOR_ROLES, type Operator } from '../store/index.js';
import type { AdminRoute } from './admin.js';
import { DEFAULT_ROLE, ROUTE_ROLES } from './admin-roles.js';
import { isoTimeOrNull } from '../util/time.js';

export const operatorView = (o: Operator) => ({
  id: o.id, object: 'operator', name: o.name, role: o.role, status: o.disabledAt === null ? 'active' : 'disabled',
  sign_in: o.tokenHash === null ? 'oidc' : 'token', created_at: isoTimeOrNull(o.createdAt), created_by: o.createdBy, disabled_at: isoTimeOrNull(o.disabledAt),
});

export const OPERATOR_ROUTES: AdminRoute[] = [
  {
    method: 'GET', path: '/admin/v1/whoami', tag: 'operators', summary: 'The calling operator: name, role, and which of the role-restricted routes it may use',
    handle: async (i) => ({
      id: i.operator.id, name: i.operator.name, role: i.operator.role, via: i.operator.via,
      // The dashboard shows or hides actions by these (the API checks them anyway).
      roles: { ladder: OPERATOR_ROLES, routes: ROUTE_ROLES, default: DEFAULT_ROLE },
    }),
  },
  {
    method: 'GET', path: '/admin/v1/operators', tag: 'operators', summary: 'Named operators (never their tokens)',
    handle: async (_i, d) => ({ object: 'list', data: (await d.store.listOperators()).map(operatorView) }),
  },
  {
    method: 'POST', path: '/admin/v1/operators', tag: 'operators', status: 201,
    summary: 'Create a named operator with a role; answers its token, shown once (stored hashed)',
    body: z.strictObject({ name: z.string().min(1).max(128).describe('Unique; the name approvals and the audit log show (use the same identifier as agent owners, e.g. an e-mail)'), role: z.enum(OPERATOR_ROLES) }),
    handle: async (i, d) => {
      const { name, role } = i.body as { name: string; role: Operator['role'] };
      const { operator, token } = await d.operators.create(name, role, i.by.actor);
      await d.audit.record({ ...i.by, type: 'operator.created', data: { created: { id: operator.id, name: operator.name, role: operator.role } } });
      return { ...operatorView(operator), token };
    },
  },
  {
    method: 'POST', path: '/admin/v1/operators/{id}/disable', tag: 'operators', summary: 'Disable an operator: its token stops working at once',
    body: z.strictObject({ reason: z.string().max(500).optional() }),
    handle: async (i, d) => {
      if (i.params.id === i.operator.id || i.params.id === i.operator.name) throw new GatewayError('conflict', 'An operator cannot disable itself.');
      const operator = await d.operators.disable(i.params.id!);
      await d.audit.record({ ...i.by, type: 'operator.disabled', data: { disabled: { id: operator.id, name: operator.name, role: operator.role }, reason: i.by.reason ?? null } });
      return operatorView(operator);
    },
  },
];
