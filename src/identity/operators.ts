// Operator identities: the humans who run Tollgate, each named and with a role, so the audit log
// says who approved, revoked or changed what. An operator's token is shown once; the store keeps
// only an HMAC-SHA256 of it (as for client secrets) and presented tokens are compared in constant
// time. The bootstrap admin token (TOLLGATE_ADMIN_TOKEN) stays: it acts as the operator `admin`.
// An OIDC sign-in gets a dashboard token instead: `tgd_<claims>.<HMAC>`, stateless (so any
// replica sharing the master key accepts it), short-lived, and refused once its operator is
// disabled. Every kind is told apart by its prefix, and none of them is a session token.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../errors/index.js';
import { OPERATOR_ROLES, type Operator, type OperatorRole, type Store } from '../store/index.js';
import { newId } from '../util/ids.js';
import type { AdminToken } from './admin-token.js';
import type { MasterKey } from './master-key.js';

/** Who is acting on the admin plane, as audit events carry it. */
export interface OperatorIdentity {
  id: string;
  name: string;
  role: OperatorRole;
  /** How they signed in: the bootstrap token, their own token, or OIDC. */
  via: 'bootstrap' | 'token' | 'oidc';
}

/** The holder of the bootstrap admin token. */
export const BOOTSTRAP_OPERATOR: OperatorIdentity = Object.freeze({ id: 'admin', name: 'admin', role: 'admin', via: 'bootstrap' });

/** Roles form a ladder: each includes what the ones before it may do. */
export function roleAllows(held: OperatorRole, required: OperatorRole): boolean {
  return OPERATOR_ROLES.indexOf(held) >= OPERATOR_ROLES.indexOf(required);
}

/**
 * The audit actor of an operator: `admin` for the bootstrap token (as before operators existed),
 * `operator:<name>` otherwise (names are unique and never reused: operators are disabled, not deleted).
 */
export const operatorActor = (o: OperatorIdentity): string => (o.via === 'bootstrap' ? 'admin' : `operator:${o.name}`);

/** `tgo_<operator id>.<random>`: the id half finds the record, the random half proves possession. */
const TOKEN = /^tgo_(op_[a-z0-9]+)\.([A-Za-z0-9_-]{43})$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;
/** How operator ids look (`newId('op')`): a name may not, the store finding operators by either. */
const OPERATOR_ID = /^op_[0-9a-f]{6,}$/i;

const DASHBOARD = /^tgd_([A-Za-z0-9_-]{1,1024})\.([A-Za-z0-9_-]{43})$/;

export class OperatorService {
  private readonly hmacKey: Buffer;
  private readonly dashboardKey: Buffer;

  constructor(
    private readonly store: Store,
    master: MasterKey,
    private readonly adminToken: AdminToken,
    private readonly now: () => number = Date.now,
  ) {
    this.hmacKey = master.derive('operator-token');
    this.dashboardKey = master.derive('dashboard-token');
  }

  /** A dashboard token for an operator signed in by OIDC, valid `ttlMs`. */
  issueDashboardToken(o: OperatorIdentity, ttlMs: number): { token: string; expiresAt: number } {
    const expiresAt = this.now() + ttlMs;
    const claims = Buffer.from(JSON.stringify({ id: o.id, name: o.name, role: o.role, exp: expiresAt })).toString('base64url');
    return { token: `tgd_${claims}.${createHmac('sha256', this.dashboardKey).update(claims).digest('base64url')}`, expiresAt };
  }

  private async dashboardIdentity(claims: string, mac: string): Promise<OperatorIdentity | null> {
    const expected = createHmac('sha256', this.dashboardKey).update(claims).digest();
    const presented = Buffer.from(mac, 'base64url');
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return null;
    const c = JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')) as { id: string; name: string; role: OperatorRole; exp: number };
    if (!(c.exp > this.now()) || !OPERATOR_ROLES.includes(c.role)) return null;
    const operator = await this.store.getOperator(c.id);
    if (!operator || operator.disabledAt !== null) return null;
    return { id: operator.id, name: operator.name, role: c.role, via: 'oidc' };
  }

  private hash(token: string): string {
    return createHmac('sha256', this.hmacKey).update(token).digest('hex');
  }

  /** A new operator with a token of its own (returned once). */
  async create(name: string, role: OperatorRole, createdBy: string): Promise<{ operator: Operator; token: string }> {
    if (!NAME.test(name)) throw new GatewayError('invalid_request', 'name must be 1-128 characters of letters, digits, . _ @ + - (starting with a letter or digit)', { param: 'name' });
    if (name.toLowerCase() === BOOTSTRAP_OPERATOR.name) throw new GatewayError('conflict', `"${name}" is the bootstrap admin's name`);
    if (OPERATOR_ID.test(name)) throw new GatewayError('invalid_request', 'name may not look like an operator id (op_…)', { param: 'name' });
    const id = newId('op');
    const token = `tgo_${id}.${randomBytes(32).toString('base64url')}`;
    const operator: Operator = { id, name, role, tokenHash: this.hash(token), createdAt: this.now(), createdBy, disabledAt: null };
    await this.store.putOperator(operator);
    return { operator, token };
  }

  /**
   * The operator a presented bearer token belongs to, or null. The bootstrap token and every
   * operator token are checked in constant time; a disabled operator's token is refused.
   */
  async authenticate(presented: string): Promise<OperatorIdentity | null> {
    if (this.adminToken.matches(presented)) return BOOTSTRAP_OPERATOR;
    const dashboard = DASHBOARD.exec(presented);
    if (dashboard) return this.dashboardIdentity(dashboard[1]!, dashboard[2]!);
    const match = TOKEN.exec(presented);
    if (!match) return null;
    const operator = await this.store.getOperator(match[1]!);
    const expected = Buffer.from(operator?.tokenHash ?? '0'.repeat(64), 'hex');
    const ok = timingSafeEqual(Buffer.from(this.hash(presented), 'hex'), expected);
    if (!operator || !ok || operator.tokenHash === null || operator.disabledAt !== null) return null;
    return { id: operator.id, name: operator.name, role: operator.role, via: 'token' };
  }

  /** The operator an OIDC sign-in maps to: found by name, or created (without a token) on first sign-in; the role follows the groups each time. */
  async fromOidc(name: string, role: OperatorRole): Promise<OperatorIdentity> {
    // The name is the identity provider's (its `name_claim`), not checked by anyone before: held to
    // the rule operator names follow, and never the bootstrap admin's name or an operator id (the
    // store finds operators by either: a name shaped like an id would sign in as that operator).
    if (!NAME.test(name) || name.toLowerCase() === BOOTSTRAP_OPERATOR.name || OPERATOR_ID.test(name)) {
      throw new GatewayError('forbidden', `The identity provider's name "${name.slice(0, 64)}" cannot name an operator (1-128 letters, digits, . _ @ + -; not "${BOOTSTRAP_OPERATOR.name}", not an operator id): map another claim (admin.oidc.name_claim).`);
    }
    let operator = await this.store.getOperator(name);
    if (!operator) {
      await this.store.putOperator({ id: newId('op'), name, role, tokenHash: null, createdAt: this.now(), createdBy: 'oidc', disabledAt: null }).catch((err: unknown) => {
        // Two first sign-ins at once: the other one created it.
        if ((err as GatewayError).code !== 'conflict') throw err;
      });
      operator = await this.store.getOperator(name);
    }
    if (!operator || operator.disabledAt !== null) throw new GatewayError('forbidden', `operator "${name}" is disabled`);
    if (operator.name !== name) throw new GatewayError('forbidden', `The identity provider's name "${name.slice(0, 64)}" is another operator's id.`);
    return { id: operator.id, name: operator.name, role, via: 'oidc' };
  }

  async disable(idOrName: string): Promise<Operator> {
    const operator = await this.store.getOperator(idOrName);
    if (!operator) throw new GatewayError('not_found', `operator "${idOrName}" does not exist`);
    return (await this.store.disableOperator(operator.id, this.now()))!;
  }
}
