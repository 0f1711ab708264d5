// An orchestrator delegating to two sub-agents, each with a slice of its budget and a narrower
// scope. Each sub-agent has its own identity and session; what they spend counts against the
// orchestrator's budget, and closing the orchestrator's session closes theirs.
//   node examples/orchestrator.mjs
import { Tollgate } from 'tollgate/sdk';
import { admin, credentialsFor, ensureAgent, url } from './_operator.mjs';

await ensureAgent('researcher');
await ensureAgent('writer');
const tollgate = new Tollgate({ baseUrl: url, ...(await credentialsFor('demo-agent')) });
const plan = await tollgate.openSession({ task: 'market report', budgetUsd: 0.5, tags: { cost_center: 'research' } });

const [research, write] = await Promise.all([
  plan.delegate({ agent: 'researcher', task: 'collect sources', budgetUsd: 0.1 }),
  plan.delegate({ agent: 'writer', task: 'draft the report', budgetUsd: 0.05, models: ['gpt-4o-mini'] }),
]);
console.log(`orchestrator ${plan.id} → researcher ${research.id} ($0.10), writer ${write.id} ($0.05)`);

const ask = async (session, model, content) => (await (await session.openai()).chat.completions.create({ model, messages: [{ role: 'user', content }] })).choices[0].message.content;
const [notes, draft] = await Promise.all([
  ask(research, 'gpt-4o', 'List three sources on chip supply.'),
  ask(write, 'gpt-4o-mini', 'Draft an opening paragraph on chip supply.'),
]);
console.log(`researcher: ${notes.slice(0, 60)}…`);
console.log(`writer: ${draft.slice(0, 60)}…`);

// The writer may not use gpt-4o: its slice was narrowed to gpt-4o-mini.
const refused = await ask(write, 'gpt-4o', 'try the big model').catch((err) => err);
console.log(`writer on gpt-4o: ${refused.status} ${refused.error?.code}`);

const tree = await admin('GET', `/admin/v1/sessions/${plan.id}/tree`);
for (const node of [tree, ...tree.children]) console.log(`  ${node.agent.name.padEnd(10)} spent $${node.spent.usd.toFixed(6)} of $${node.budget.usd}`);
console.log(`with children: $${tree.spent_with_children.usd.toFixed(6)}`);
await plan.close();
console.log('orchestrator closed: its sub-agents\' sessions closed with it');
