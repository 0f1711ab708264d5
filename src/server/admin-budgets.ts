// Admin route of budget burn-down, spread into the admin route table (admin.ts): each team and
// agent budget of the current period with what is spent and held now, the recent burn rate and
// when, at that rate, it runs out.
import { periodWindow, type Account } from '../budget/index.js';
import { nanoToUsd } from '../providers/pricing.js';
import type { PeriodBudget } from '../store/index.js';
import type { AdminDeps, AdminRoute } from './admin.js';
import { isoTime } from '../util/time.js';

/** The burn rate is measured over the last hour of the period (or the period so far, if shorter). */
const RATE_WINDOW_MS = 3_600_000;

interface Amounts { tokens: number | null; usd: number | null }

async function budgetLine(d: AdminDeps, level: 'team' | 'agent', subject: { id: string; name: string }, budget: PeriodBudget) {
  const now = d.now();
  const window = periodWindow(budget.period, now, d.timeZone);
  // The ledger's own account: the spend it enforces against, with the holds of calls in flight.
  const account: Account = await d.ledger.loadPeriod(level, subject.id, budget, window);
  const rateSince = Math.max(window.start, now - RATE_WINDOW_MS);
  const recent = await d.store.spendSince(level === 'team' ? { teamId: subject.id } : { agentId: subject.id }, rateSince);
  const hours = Math.max(now - rateSince, 60_000) / 3_600_000;
  const rate = { tokens: recent.tokens / hours, usdNano: recent.usdNano / hours };
  const remaining = {
    tokens: budget.tokens === null ? null : budget.tokens - account.spent.tokens - account.reserved.tokens,
    usdNano: budget.usdNano === null ? null : budget.usdNano - account.spent.usdNano - account.reserved.usdNano,
  };
  // Hours left per limited unit at the current rate; the sooner one is the forecast.
  const hoursLeft = [
    remaining.usdNano !== null && rate.usdNano > 0 ? Math.max(0, remaining.usdNano) / rate.usdNano : null,
    remaining.tokens !== null && rate.tokens > 0 ? Math.max(0, remaining.tokens) / rate.tokens : null,
  ].filter((h): h is number => h !== null);
  const exhaustsAt = hoursLeft.length ? now + Math.min(...hoursLeft) * 3_600_000 : null;
  const amounts = (a: { tokens: number | null; usdNano: number | null }): Amounts => ({ tokens: a.tokens, usd: a.usdNano === null ? null : nanoToUsd(a.usdNano) });
  return {
    level,
    id: subject.id,
    name: subject.name,
    period: budget.period,
    period_start: window.start === 0 ? null : isoTime(window.start),
    period_end: Number.isFinite(window.end) ? isoTime(window.end) : null,
    budget: amounts(budget),
    spent: amounts(account.spent),
    reserved: amounts(account.reserved),
    remaining: amounts(remaining),
    burn_rate_per_hour: { tokens: Math.round(rate.tokens), usd: nanoToUsd(Math.round(rate.usdNano)) },
    /** At the last hour's rate, when the budget runs out — null when it does not within this period. */
    forecast_exhausted_at: exhaustsAt !== null && exhaustsAt < window.end ? isoTime(exhaustsAt) : null,
  };
}

export const BUDGET_ROUTES: AdminRoute[] = [
  {
    method: 'GET', path: '/admin/v1/budgets', tag: 'budgets',
    summary: 'Budget burn-down: every team and agent budget of the current period — spent, reserved, remaining, the last hour\'s burn rate and the forecast exhaustion time',
    handle: async (_i, d) => {
      const [teams, profiles, agents] = await Promise.all([d.store.listTeams(), d.store.listProfiles(), d.store.listAgents()]);
      const lines = [];
      for (const t of teams) if (t.budget) lines.push(await budgetLine(d, 'team', t, t.budget));
      const agentBudgets = new Map(profiles.map((p) => [p.id, p.agentBudget]));
      for (const a of agents) {
        const budget = agentBudgets.get(a.profileId);
        if (budget && a.status !== 'revoked') lines.push(await budgetLine(d, 'agent', a, budget));
      }
      return { object: 'list', data: lines };
    },
  },
];
