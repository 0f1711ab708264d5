// GET /admin/v1/audit over a real gateway: filters, type prefixes, cursor pages in both orders,
// and the investigation view (a session and everything delegated from it).
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { delegate } from '../helpers/oauth.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway({
    teams: [{ name: 'ops' }],
    profiles: [{ name: 'worker', models: ['gpt-4o-mini'], session_budget: { default: { usd: 1 }, max: { usd: 5 } } }],
    agents: [{ name: 'lead', team: 'ops', profile: 'worker' }, { name: 'helper', team: 'ops', profile: 'worker' }],
  });
});
afterAll(async () => {
  await gw.close();
});

interface Event { seq: number; id: string; type: string; session_id: string | null; team_id: string | null; chain: string[] | null; time: string }
interface Page { object: string; order: string; data: Event[]; has_more: boolean; next_cursor: string | null }

const search = async (query: string): Promise<Page> => {
  const res = await gw.admin<Page>('GET', `/admin/v1/audit?${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
};

/** Every page, following next_cursor until the end (desc) or an empty page (asc). */
async function allPages(query: string): Promise<Event[][]> {
  const pages: Event[][] = [];
  let page = await search(query);
  for (;;) {
    if (page.data.length === 0) break;
    pages.push(page.data);
    if (!page.next_cursor || (page.order === 'desc' && !page.has_more)) break;
    page = await search(`${query}&cursor=${page.next_cursor}`);
  }
  return pages;
}

async function tree() {
  const root = await gw.openSession({ agent: 'lead', task: 'incident' });
  const child = await delegate(gw.url, root.token, { agent: 'helper', task: 'look', budget_usd: '0.2' });
  const grandchild = await delegate(gw.url, child.body.access_token as string, { agent: 'helper', task: 'look deeper', budget_usd: '0.1' });
  const other = await gw.openSession({ agent: 'lead', task: 'unrelated' });
  const call = (token: string) => new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  await call(grandchild.body.access_token as string);
  await call(other.token);
  return { root: root.sessionId, child: child.body.session_id as string, grandchild: grandchild.body.session_id as string, other: other.sessionId };
}

describe('audit search', () => {
  it('shows a session and its descendants in order, and nothing of other sessions', async () => {
    const { root, child, grandchild, other } = await tree();
    const page = await search(`session=${root}&descendants=true`);
    expect(page.order).toBe('asc');
    const sessions = new Set(page.data.map((e) => e.session_id));
    expect(sessions).toEqual(new Set([root, child, grandchild]));
    expect(page.data.map((e) => e.seq)).toEqual([...page.data.map((e) => e.seq)].sort((a, b) => a - b));
    expect(page.data.map((e) => e.type)).toEqual(expect.arrayContaining(['session.opened', 'session.delegated', 'policy.decision']));
    expect(page.data.find((e) => e.session_id === grandchild && e.type === 'session.delegated')!.chain).toEqual([root, child, grandchild]);
    // Without descendants: the root's own events only. From the child: the child and grandchild.
    expect(new Set((await search(`session=${root}`)).data.map((e) => e.session_id))).toEqual(new Set([root]));
    expect(new Set((await search(`session=${child}&descendants=true`)).data.map((e) => e.session_id))).toEqual(new Set([child, grandchild]));
    expect((await search(`session=${other}`)).data.length).toBeGreaterThan(0);
    expect((await gw.admin('GET', '/admin/v1/audit?session=ses_nope&descendants=true')).status).toBe(404);
  });

  it('pages by cursor in both orders without skipping or repeating an event', async () => {
    const everything = (await search('limit=1000&order=asc')).data;
    expect(everything.length).toBeGreaterThan(6);
    const desc = await allPages('limit=3');
    expect(desc.every((p) => p.length <= 3)).toBe(true);
    expect(desc.flat().map((e) => e.seq)).toEqual(everything.map((e) => e.seq).reverse());
    const asc = await allPages('limit=4&order=asc');
    expect(asc.flat().map((e) => e.seq)).toEqual(everything.map((e) => e.seq));
    // Following: the last asc cursor sees an event written later, and only that.
    const tail = await search('limit=1000&order=asc');
    const cursor = tail.next_cursor!;
    expect((await search(`cursor=${cursor}`)).data).toEqual([]);
    await gw.admin('POST', '/admin/v1/keys/rotate');
    const next = await search(`cursor=${cursor}`);
    expect(next.data.map((e) => e.type)).toEqual(['keys.rotated']);
    expect((await gw.admin('GET', `/admin/v1/audit?cursor=${cursor}&order=desc`)).status).toBe(400);
    expect((await gw.admin('GET', '/admin/v1/audit?cursor=bogus')).status).toBe(400);
  });

  it('filters by type prefix, team, agent and time range', async () => {
    const all = (await search('limit=1000')).data;
    const sessionTypes = (await search('type=session.*&limit=1000')).data;
    expect(sessionTypes.length).toBeGreaterThan(0);
    expect(sessionTypes.every((e) => e.type.startsWith('session.'))).toBe(true);
    expect(sessionTypes.map((e) => e.id)).toEqual(all.filter((e) => e.type.startsWith('session.')).map((e) => e.id));
    expect((await search('type=session.opened&limit=1000')).data.every((e) => e.type === 'session.opened')).toBe(true);
    const ops = (await gw.admin('GET', '/admin/v1/teams/ops')).body.id as string;
    const byTeam = (await search('team=ops&limit=1000')).data;
    expect(byTeam.length).toBeGreaterThan(0);
    expect(byTeam.every((e) => e.team_id === ops)).toBe(true);
    expect(byTeam.length).toBeLessThan(all.length);
    const helper = (await gw.admin('GET', '/admin/v1/agents/helper')).body.id as string;
    expect((await search('agent=helper&limit=1000')).data.map((e) => e.id)).toEqual(all.filter((e) => (e as Event & { agent_id: string | null }).agent_id === helper).map((e) => e.id));
    const middle = all[Math.floor(all.length / 2)]!;
    const since = (await search(`since=${encodeURIComponent(middle.time)}&limit=1000`)).data;
    expect(since.every((e) => e.time >= middle.time)).toBe(true);
    expect(since.map((e) => e.id)).toContain(middle.id);
    const until = (await search(`until=${encodeURIComponent(middle.time)}&limit=1000`)).data;
    expect(until.every((e) => e.time < middle.time)).toBe(true);
    expect(since.length + until.length).toBe(all.length);
    expect((await gw.admin('GET', '/admin/v1/audit?team=nope')).status).toBe(404);
    expect((await gw.admin('GET', '/admin/v1/audit?since=soon')).status).toBe(400);
    // The old listing is still there.
    expect((await gw.admin('GET', '/admin/v1/audit/events?limit=2')).body.data).toHaveLength(2);
  });
});
