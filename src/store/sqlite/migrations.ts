// Versioned schema for the SQLite store. Append new versions; never edit an applied one.
import { GENESIS_HASH } from '../chain.js';

/**
 * What only the SQLite schema has: the indexes it keeps in bulk as tables (migrations 12 to 15),
 * and the quarter hours of spend by agent and team that let those by agent and team go (15).
 */
export const SQLITE_ONLY = {
  tables: ['session_index_marks', 'audit_session_index', 'usage_session_index', 'audit_agent_index', 'audit_type_index', 'usage_agent_index', 'usage_team_index', 'spend_buckets'],
} as const;

export const SQLITE_MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'core',
    sql: `
      CREATE TABLE teams (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        owner TEXT,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE profiles (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        spec TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        team_id TEXT NOT NULL REFERENCES teams(id),
        profile_id TEXT NOT NULL REFERENCES profiles(id),
        owner TEXT,
        environment TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL REFERENCES agents(id),
        team_id TEXT NOT NULL REFERENCES teams(id),
        profile_id TEXT NOT NULL REFERENCES profiles(id),
        parent_id TEXT REFERENCES sessions(id),
        task TEXT NOT NULL,
        budget_tokens INTEGER,
        budget_usd_nano INTEGER,
        models TEXT NOT NULL,
        context TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        spent_input_tokens INTEGER NOT NULL DEFAULT 0,
        spent_output_tokens INTEGER NOT NULL DEFAULT 0,
        spent_cached_input_tokens INTEGER NOT NULL DEFAULT 0,
        spent_cache_write_tokens INTEGER NOT NULL DEFAULT 0,
        spent_reasoning_tokens INTEGER NOT NULL DEFAULT 0,
        spent_usd_nano INTEGER NOT NULL DEFAULT 0,
        spent_requests INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX sessions_agent ON sessions(agent_id, created_at);
      CREATE INDEX sessions_team ON sessions(team_id, created_at);
      CREATE TABLE usage_records (
        id TEXT PRIMARY KEY,
        request_id TEXT NOT NULL,
        session_id TEXT NOT NULL REFERENCES sessions(id),
        agent_id TEXT NOT NULL,
        team_id TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        model TEXT NOT NULL,
        provider TEXT NOT NULL,
        api TEXT NOT NULL,
        stream INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cached_input_tokens INTEGER NOT NULL,
        cache_write_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        cost_usd_nano INTEGER NOT NULL,
        estimated INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        http_status INTEGER NOT NULL,
        latency_ms REAL NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX usage_session ON usage_records(session_id, created_at);
      CREATE INDEX usage_agent ON usage_records(agent_id, created_at);
      CREATE INDEX usage_team ON usage_records(team_id, created_at);
      CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        alg TEXT NOT NULL,
        private_jwk TEXT NOT NULL,
        public_jwk TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        retired_at INTEGER
      );
    `,
  },
  {
    version: 2,
    name: 'identity',
    sql: `
      ALTER TABLE sessions ADD COLUMN chain TEXT NOT NULL DEFAULT '[]';
      CREATE INDEX sessions_parent ON sessions(parent_id);
      ALTER TABLE usage_records ADD COLUMN chain TEXT NOT NULL DEFAULT '[]';
      CREATE TABLE credentials (
        id TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL REFERENCES agents(id),
        hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        revoked_at INTEGER,
        last_used_at INTEGER,
        last_used_from TEXT
      );
      CREATE INDEX credentials_agent ON credentials(agent_id);
      CREATE TABLE revoked_tokens (
        jti TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL,
        revoked_at INTEGER NOT NULL
      );
      CREATE TABLE audit_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        time INTEGER NOT NULL,
        type TEXT NOT NULL,
        actor TEXT NOT NULL,
        request_id TEXT,
        agent_id TEXT,
        session_id TEXT,
        team_id TEXT,
        chain TEXT,
        data TEXT NOT NULL
      );
      CREATE INDEX audit_session ON audit_events(session_id, seq);
      CREATE INDEX audit_agent ON audit_events(agent_id, seq);
      CREATE INDEX audit_type ON audit_events(type, seq);
    `,
  },
  {
    version: 3,
    name: 'budgets',
    sql: `
      ALTER TABLE teams ADD COLUMN budget TEXT;
      ALTER TABLE sessions ADD COLUMN enforcement TEXT;
      CREATE TABLE approvals (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id),
        agent_id TEXT NOT NULL,
        team_id TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        decided_at INTEGER,
        decided_by TEXT,
        reason TEXT,
        extra_tokens INTEGER,
        extra_usd_nano INTEGER,
        context TEXT NOT NULL
      );
      CREATE INDEX approvals_session ON approvals(session_id, created_at);
      CREATE INDEX approvals_status ON approvals(status, created_at);
    `,
  },
  {
    version: 4,
    name: 'reservations',
    sql: `
      CREATE TABLE reservations (
        id TEXT PRIMARY KEY,
        request_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        team_id TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        model TEXT NOT NULL,
        provider TEXT NOT NULL,
        api TEXT NOT NULL,
        stream INTEGER NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        usd_nano INTEGER NOT NULL,
        chain TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE INDEX reservations_expiry ON reservations(expires_at);
    `,
  },
  {
    version: 5,
    name: 'tool scopes and tool approvals',
    sql: `
      ALTER TABLE sessions ADD COLUMN scopes TEXT;
      ALTER TABLE approvals ADD COLUMN kind TEXT NOT NULL DEFAULT 'budget';
      ALTER TABLE approvals ADD COLUMN consumed_at INTEGER;
    `,
  },
  {
    version: 6,
    name: 'audit chain and checkpoints',
    // The chain starts after the events already stored (they keep null hashes). The head row is
    // what appends lock; its first_seq says where the chain starts.
    sql: `
      ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
      ALTER TABLE audit_events ADD COLUMN hash TEXT;
      CREATE TABLE audit_chain_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        last_hash TEXT NOT NULL
      );
      INSERT INTO audit_chain_head (id, first_seq, last_seq, last_hash)
        SELECT 1, COALESCE(MAX(seq), 0) + 1, COALESCE(MAX(seq), 0), '${GENESIS_HASH}' FROM audit_events;
      CREATE TABLE audit_checkpoints (
        id TEXT PRIMARY KEY,
        last_seq INTEGER NOT NULL,
        last_hash TEXT NOT NULL,
        time INTEGER NOT NULL,
        kid TEXT NOT NULL,
        jws TEXT NOT NULL
      );
      CREATE INDEX audit_checkpoints_seq ON audit_checkpoints(last_seq, time);
    `,
  },
  {
    version: 7,
    name: 'audit content',
    // Content logging (docs/audit.md#content-logging): kept apart from audit_events, so purging
    // it never touches the chain.
    sql: `
      CREATE TABLE audit_content (
        id TEXT PRIMARY KEY,
        request_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        body TEXT,
        redactions INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX audit_content_request ON audit_content(request_id, created_at);
      CREATE INDEX audit_content_session ON audit_content(session_id, created_at);
      CREATE INDEX audit_content_created ON audit_content(created_at);
    `,
  },
  {
    version: 8,
    name: 'alerts',
    // Detection (docs/detection.md): alerts with their evidence and actions, and the learned
    // baselines the detectors keep across restarts.
    sql: `
      CREATE TABLE alerts (
        id TEXT PRIMARY KEY,
        detector TEXT NOT NULL,
        subject TEXT NOT NULL,
        severity TEXT NOT NULL,
        status TEXT NOT NULL,
        summary TEXT NOT NULL,
        verdict TEXT,
        evidence TEXT NOT NULL,
        actions TEXT NOT NULL,
        occurrences INTEGER NOT NULL,
        agent_id TEXT,
        session_id TEXT,
        team_id TEXT,
        profile_id TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        acknowledged_by TEXT,
        resolved_by TEXT
      );
      CREATE INDEX alerts_updated ON alerts(updated_at);
      CREATE INDEX alerts_status ON alerts(status, updated_at);
      CREATE INDEX alerts_agent ON alerts(agent_id, updated_at);
      CREATE TABLE detector_baselines (
        key TEXT PRIMARY KEY,
        data TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 9,
    name: 'scale_out',
    // PostgreSQL's version 9 adds the shared ledger, replica heartbeats and the change feed, which
    // only several replicas need; the embedded store keeps its ledger in memory. Kept (empty) so
    // both stores count the same versions.
    sql: '',
  },
  {
    version: 10,
    name: 'operators and access review',
    // Named operators (docs/operators.md): each with a role and a token of its own, stored as a
    // keyed hash. Where each client secret was used from (docs/access-review.md), one row per
    // credential and source, so reuse across workloads shows. Signed-off access reviews.
    // (Version 9 belongs to another change: the runner applies whatever versions are missing.)
    sql: `
      CREATE TABLE operators (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        token_hash TEXT,
        created_at INTEGER NOT NULL,
        created_by TEXT,
        disabled_at INTEGER
      );
      CREATE TABLE credential_sources (
        credential_id TEXT NOT NULL,
        source TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        PRIMARY KEY (credential_id, source)
      );
      CREATE TABLE access_reviews (
        id TEXT PRIMARY KEY,
        signed_at INTEGER NOT NULL,
        signed_by TEXT NOT NULL,
        operator TEXT,
        window_days INTEGER NOT NULL,
        findings TEXT NOT NULL,
        accepted TEXT NOT NULL,
        remediated TEXT NOT NULL,
        note TEXT
      );
      CREATE INDEX access_reviews_signed ON access_reviews(signed_at);
    `,
  },
  {
    version: 11,
    name: 'reservations keyed by id',
    // A hold lives only while its call is in flight: inserted at reserve, deleted by its spend
    // line, on every call. Keyed by id without a rowid, and without the expiry index (the table
    // holds only the calls in flight, so finding expired holds scans a handful of rows), a hold
    // costs one b-tree insert and one delete instead of three of each.
    sql: `
      CREATE TABLE reservations_by_id (
        id TEXT PRIMARY KEY,
        request_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        team_id TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        model TEXT NOT NULL,
        provider TEXT NOT NULL,
        api TEXT NOT NULL,
        stream INTEGER NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        usd_nano INTEGER NOT NULL,
        chain TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      INSERT INTO reservations_by_id SELECT id, request_id, session_id, agent_id, team_id, profile_id, model, provider, api, stream,
        prompt_tokens, output_tokens, usd_nano, chain, created_at, expires_at FROM reservations;
      DROP TABLE reservations;
      ALTER TABLE reservations_by_id RENAME TO reservations;
    `,
  },
  {
    version: 12,
    name: 'session indexes kept in bulk',
    // Audit events and spend lines by session: index tables filled in session order by passes
    // off the hot path (session-index.ts) instead of indexes every commit updates row by row.
    // Every row stored so far is indexed here, so the marks start at the tables' ends.
    sql: `
      CREATE TABLE session_index_marks (name TEXT PRIMARY KEY, upto INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE audit_session_index (session_id TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (session_id, seq)) WITHOUT ROWID;
      CREATE TABLE usage_session_index (session_id TEXT NOT NULL, created_at INTEGER NOT NULL, id TEXT NOT NULL, row INTEGER NOT NULL, PRIMARY KEY (session_id, created_at, id)) WITHOUT ROWID;
      INSERT INTO audit_session_index SELECT session_id, seq FROM audit_events WHERE session_id IS NOT NULL ORDER BY session_id, seq;
      INSERT INTO usage_session_index SELECT session_id, created_at, id, rowid FROM usage_records ORDER BY session_id, created_at, id;
      INSERT INTO session_index_marks VALUES
        ('audit_events', (SELECT COALESCE(MAX(seq), 0) FROM audit_events)),
        ('usage_records', (SELECT COALESCE(MAX(rowid), 0) FROM usage_records));
      DROP INDEX audit_session;
      DROP INDEX usage_session;
    `,
  },
  {
    version: 13,
    name: 'audit events by agent kept in bulk',
    // Audit events by agent, like those by session: with many agents at once each commit took
    // every event into its agent's leaf (a leaf per call). Filled by the same passes, up to the
    // same mark: the events at or below it are copied here in key order, those above it wait for
    // the next pass as their session entries do.
    sql: `
      CREATE TABLE audit_agent_index (agent_id TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (agent_id, seq)) WITHOUT ROWID;
      INSERT INTO audit_agent_index SELECT agent_id, seq FROM audit_events
        WHERE agent_id IS NOT NULL AND seq <= (SELECT upto FROM session_index_marks WHERE name = 'audit_events') ORDER BY agent_id, seq;
      DROP INDEX audit_agent;
    `,
  },
  {
    version: 14,
    name: 'audit events by type kept in bulk',
    // Audit events by type: every commit took its model.call events into the middle of the type
    // index (types sorting after it have entries too), splitting leaves there. Filled by the same
    // passes, up to the same mark, as the indexes by session and agent.
    sql: `
      CREATE TABLE audit_type_index (type TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (type, seq)) WITHOUT ROWID;
      INSERT INTO audit_type_index SELECT type, seq FROM audit_events
        WHERE seq <= (SELECT upto FROM session_index_marks WHERE name = 'audit_events') ORDER BY type, seq;
      DROP INDEX audit_type;
    `,
  },
  {
    version: 15,
    name: 'spend by quarter hour; spend lines by agent and team kept in bulk',
    // A period's spend is read from quarter hours of spend by agent and by team (spend-buckets.ts),
    // added in each commit beside the lines; then the lines' indexes by agent and by team no
    // longer serve the ledger, and join those kept in bulk (filled by the same passes, up to the
    // same mark). The buckets start with every line stored so far. Keyed by time first, so a
    // commit's upserts all land in the current quarter hour's few leaves at the table's end; the
    // index by subject changes only when a subject's quarter hour begins (an update leaves its key).
    sql: `
      CREATE TABLE spend_buckets (
        start INTEGER NOT NULL, level TEXT NOT NULL, subject TEXT NOT NULL,
        tokens INTEGER NOT NULL, usd_nano INTEGER NOT NULL,
        PRIMARY KEY (start, level, subject)
      ) WITHOUT ROWID;
      CREATE INDEX spend_buckets_subject ON spend_buckets(level, subject, start);
      INSERT INTO spend_buckets SELECT created_at - (created_at % 900000 + 900000) % 900000, 'agent', agent_id, SUM(input_tokens + output_tokens), SUM(cost_usd_nano)
        FROM usage_records GROUP BY agent_id, created_at - (created_at % 900000 + 900000) % 900000;
      INSERT INTO spend_buckets SELECT created_at - (created_at % 900000 + 900000) % 900000, 'team', team_id, SUM(input_tokens + output_tokens), SUM(cost_usd_nano)
        FROM usage_records GROUP BY team_id, created_at - (created_at % 900000 + 900000) % 900000;
      CREATE TABLE usage_agent_index (agent_id TEXT NOT NULL, created_at INTEGER NOT NULL, id TEXT NOT NULL, row INTEGER NOT NULL, PRIMARY KEY (agent_id, created_at, id)) WITHOUT ROWID;
      CREATE TABLE usage_team_index (team_id TEXT NOT NULL, created_at INTEGER NOT NULL, id TEXT NOT NULL, row INTEGER NOT NULL, PRIMARY KEY (team_id, created_at, id)) WITHOUT ROWID;
      INSERT INTO usage_agent_index SELECT agent_id, created_at, id, rowid FROM usage_records
        WHERE rowid <= (SELECT upto FROM session_index_marks WHERE name = 'usage_records') ORDER BY agent_id, created_at, id;
      INSERT INTO usage_team_index SELECT team_id, created_at, id, rowid FROM usage_records
        WHERE rowid <= (SELECT upto FROM session_index_marks WHERE name = 'usage_records') ORDER BY team_id, created_at, id;
      DROP INDEX usage_agent;
      DROP INDEX usage_team;
    `,
  },
  {
    version: 16,
    name: 'session budgets grown within a maximum',
    // The same version as PostgreSQL's, where a session's budget grows within its maximum under
    // the account's lock (replicas renewing at once). One process keeps SQLite's ledger in memory,
    // where the check and the growth already happen in one turn: nothing to change here.
    sql: `
      SELECT 1;
    `,
  },
  {
    version: 17,
    name: 'team status',
    // A team can be suspended (and resumed): its agents' calls are refused, their calls in flight
    // cut, and they get no sessions or tokens, until an operator resumes it.
    sql: `
      ALTER TABLE teams ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
    `,
  },
];
