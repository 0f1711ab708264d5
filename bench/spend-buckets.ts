// `npx tsx bench/spend-buckets.ts`: what adding a commit's spend to the quarter hours of spend
// (src/store/sqlite/spend-buckets.ts) costs in a store a month old, by the table's key. 600 agents
// with a month of quarter hours each (1.7 million rows), then 20,000 commits of 12 calls from
// random agents of one team: CPU per commit and WAL pages per commit. Keyed by subject first, the
// current quarter hours are spread over the whole table (a leaf per agent in each commit); by
// time first, they sit together at its end.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const layouts = {
  'subject first': { ddl: 'PRIMARY KEY (level, subject, start)) WITHOUT ROWID', conflict: '(level, subject, start)' },
  'time first (shipped)': { ddl: 'PRIMARY KEY (start, level, subject)) WITHOUT ROWID; CREATE INDEX b_subject ON b(level, subject, start)', conflict: '(start, level, subject)' },
};
const AGENTS = 600;
const Q = 900_000;
const HISTORY = 2_880;
const COMMITS = 20_000;
const dir = mkdtempSync(join(tmpdir(), 'tollgate-buckets-'));
const agent = (a: number) => `agt_${String(a).padStart(4, '0')}`;
for (const round of [1, 2]) {
  for (const [name, layout] of Object.entries(layouts)) {
    const path = join(dir, `${round}-${name}.db`);
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('cache_size = -2000'); // the writer thread's cache (batch-writer.ts)
    db.pragma('wal_autocheckpoint = 0');
    db.exec(`CREATE TABLE b (level TEXT NOT NULL, subject TEXT NOT NULL, start INTEGER NOT NULL, tokens INTEGER NOT NULL, usd_nano INTEGER NOT NULL, ${layout.ddl}`);
    const fill = db.prepare('INSERT INTO b (level, subject, start, tokens, usd_nano) VALUES (?, ?, ?, 1, 1)');
    db.transaction(() => {
      for (let t = 0; t < HISTORY; t++) for (let a = 0; a < AGENTS; a++) fill.run('agent', agent(a), t * Q);
    })();
    db.pragma('wal_checkpoint(TRUNCATE)');
    const add = db.prepare(`INSERT INTO b (level, subject, start, tokens, usd_nano) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT ${layout.conflict} DO UPDATE SET tokens = tokens + excluded.tokens, usd_nano = usd_nano + excluded.usd_nano`);
    let seed = 1;
    const randomAgent = () => (seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff) % AGENTS;
    const commit = db.transaction((agents: number[]) => {
      for (const a of agents) add.run('agent', agent(a), HISTORY * Q, 26, 1_000);
      add.run('team', 'team_1', HISTORY * Q, 26 * agents.length, 1_000 * agents.length);
    });
    const before = process.cpuUsage();
    for (let i = 0; i < COMMITS; i++) commit(Array.from({ length: 12 }, randomAgent));
    const used = process.cpuUsage(before);
    const pages = statSync(`${path}-wal`).size / 4_096 / COMMITS;
    console.log(`round ${round}, ${name}: ${((used.user + used.system) / COMMITS).toFixed(1)} µs CPU per commit, ${pages.toFixed(1)} WAL pages per commit`);
    db.close();
  }
}
rmSync(dir, { recursive: true, force: true });
