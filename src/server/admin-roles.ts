// Which operator role each admin route needs: the one place roles are enforced (handleAdmin asks
// it before any handler runs). Roles are a ladder — viewer < approver < operator < admin — and
// most routes follow the default: reading needs `viewer`, changing needs `operator`. The table
// lists the exceptions; test/identity/operators.test.ts checks that each names a real route.
import type { OperatorRole } from '../store/index.js';

export const DEFAULT_ROLE: Record<'GET' | 'POST', OperatorRole> = { GET: 'viewer', POST: 'operator' };

/** `METHOD path` (as the route table spells the path) → the role it needs, where not the default. */
export const ROUTE_ROLES: Readonly<Record<string, OperatorRole>> = {
  // Viewers read everything but captured content (prompts, outputs, tool arguments and results).
  'GET /admin/v1/audit/content': 'operator',
  // Deciding approvals (budget step-ups, tool calls, resumes) is what approvers are for.
  'POST /admin/v1/approvals/{id}/approve': 'approver',
  'POST /admin/v1/approvals/{id}/deny': 'approver',
  // Configuration, operators and keys are the admin's.
  'POST /admin/v1/teams': 'admin',
  'POST /admin/v1/profiles': 'admin',
  'POST /admin/v1/keys/rotate': 'admin',
  'POST /admin/v1/operators': 'admin',
  'POST /admin/v1/operators/{id}/disable': 'admin',
  // Letting the audit chain be sealed again past a break.
  'POST /admin/v1/audit/breaks/{seq}/acknowledge': 'admin',
};

export function requiredRole(method: 'GET' | 'POST', path: string): OperatorRole {
  return ROUTE_ROLES[`${method} ${path}`] ?? DEFAULT_ROLE[method];
}
