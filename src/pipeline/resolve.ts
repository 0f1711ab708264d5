// Stage 2 — resolve: the session's profile and team (cached), and the budget accounts that apply
// to this call — the session's, its agent's for the current period, its team's for the current
// period — loaded into the ledger.
import { periodWindow, type Account, type Ledger } from '../budget/index.js';
import type { Directory } from '../identity/directory.js';
import type { Profile, Session, Team } from '../store/index.js';
import type { CallContext, PipelineDeps } from './context.js';

/** The budget accounts a charge on `session` must fit in: the session's, its agent's and team's for this period. */
export async function loadAccounts(
  session: Session,
  deps: { directory: Directory; ledger: Ledger; timeZone: string; now: () => number },
): Promise<{ accounts: Account[]; profile: Profile | null; team: Team | null }> {
  const { profiles, teams } = deps.directory;
  const profile = profiles.peek(session.profileId) ?? (await profiles.get(session.profileId));
  const team = teams.peek(session.teamId) ?? (await teams.get(session.teamId));
  const accounts: Account[] = [await deps.ledger.load(session)];
  const now = deps.now();
  if (profile?.agentBudget) accounts.push(await deps.ledger.loadPeriod('agent', session.agentId, profile.agentBudget, periodWindow(profile.agentBudget.period, now, deps.timeZone)));
  if (team?.budget) accounts.push(await deps.ledger.loadPeriod('team', team.id, team.budget, periodWindow(team.budget.period, now, deps.timeZone)));
  return { accounts, profile, team };
}

export async function resolve(ctx: CallContext, deps: PipelineDeps): Promise<void> {
  const session = ctx.session!;
  const { accounts, profile } = await loadAccounts(session, deps);
  const enforcement = session.enforcement ?? profile?.enforcement ?? null;
  if (enforcement?.mode === 'soft') await deps.approvals.load(session.id);
  ctx.accounts = accounts;
  ctx.profile = profile;
  ctx.enforcement = enforcement;
}
