// One agent, one task: a session from its client secret, the official `openai` client pointed
// at the gateway, a streamed answer, and the session closed when the task is done.
//   npm start            # in one terminal (the embedded default)
//   node examples/single-agent.mjs
import { Tollgate } from 'tollgate/sdk';
import { credentialsFor, url } from './_operator.mjs';

const tollgate = new Tollgate({ baseUrl: url, ...(await credentialsFor('demo-agent')) });
const session = await tollgate.openSession({ task: 'write a haiku about budgets', budgetUsd: 0.05 });
console.log(`session ${session.id} for agent ${session.agentId}`);

const openai = await session.openai();
const { data: stream, response } = await openai.chat.completions
  .create({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'A haiku about budgets, please.' }] })
  .withResponse();
let usage;
for await (const chunk of stream) {
  process.stdout.write(chunk.choices[0]?.delta.content ?? '');
  usage = chunk.usage ?? usage;
}
console.log(`\n${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion tokens; budget left before the call: $${response.headers.get('x-tollgate-budget-remaining-usd')}`);

await session.close();
console.log('session closed');
