// Versioned schema for the PostgreSQL store: the same tables, columns and indexes as the SQLite
// one (src/store/sqlite/migrations.ts), in Postgres types. Append new versions; never edit an
// applied one. Table names are unqualified: the store runs them with `search_path` set to its
// schema.
//
// Type choices:
// - counters, money (nano-USD) and timestamps (ms since the epoch) are BIGINT; the store parses
//   INT8 as a JS number (safe up to 2^53: about 9 million USD in nano-USD);
// - JSON documents (profile spec, session models, context, chains, event data) are JSON, not
//   JSONB: JSON keeps the text as written and accepts all JSON.stringify produces, while JSONB
//   rejects "\u0000" and lone surrogates, which agent-supplied strings may contain;
// - flags are BOOLEAN (rows.ts reads 0/1 and true/false alike);
// - ids and names use the "C" collation, so ORDER BY name / id sorts bytewise as in SQLite rather
//   than by the database's locale.
import { GENESIS_HASH } from '../chain.js';

export const POSTGRES_MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'core',
    sql: `
      CREATE TABLE teams (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL UNIQUE,
        owner TEXT,
        created_at BIGINT NOT NULL
      );
      CREATE TABLE profiles (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL UNIQUE,
        spec JSON NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE TABLE agents (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL UNIQUE,
        team_id TEXT COLLATE "C" NOT NULL REFERENCES teams(id),
        profile_id TEXT COLLATE "C" NOT NULL REFERENCES profiles(id),
        owner TEXT,
        environment TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE TABLE sessions (
        id TEXT COLLATE "C" PRIMARY KEY,
        agent_id TEXT COLLATE "C" NOT NULL REFERENCES agents(id),
        team_id TEXT COLLATE "C" NOT NULL REFERENCES teams(id),
        profile_id TEXT COLLATE "C" NOT NULL REFERENCES profiles(id),
        parent_id TEXT COLLATE "C" REFERENCES sessions(id),
        task TEXT NOT NULL,
        budget_tokens BIGINT,
        budget_usd_nano BIGINT,
        models JSON NOT NULL,
        context JSON NOT NULL,
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        spent_input_tokens BIGINT NOT NULL DEFAULT 0,
        spent_output_tokens BIGINT NOT NULL DEFAULT 0,
        spent_cached_input_tokens BIGINT NOT NULL DEFAULT 0,
        spent_cache_write_tokens BIGINT NOT NULL DEFAULT 0,
        spent_reasoning_tokens BIGINT NOT NULL DEFAULT 0,
        spent_usd_nano BIGINT NOT NULL DEFAULT 0,
        spent_requests BIGINT NOT NULL DEFAULT 0
      );
      CREATE INDEX sessions_agent ON sessions(agent_id, created_at);
      CREATE INDEX sessions_team ON sessions(team_id, created_at);
      CREATE TABLE usage_records (
        id TEXT COLLATE "C" PRIMARY KEY,
        request_id TEXT NOT NULL,
        session_id TEXT COLLATE "C" NOT NULL REFERENCES sessions(id),
        agent_id TEXT COLLATE "C" NOT NULL,
        team_id TEXT COLLATE "C" NOT NULL,
        profile_id TEXT COLLATE "C" NOT NULL,
        model TEXT NOT NULL,
        provider TEXT NOT NULL,
        api TEXT NOT NULL,
        stream BOOLEAN NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cached_input_tokens BIGINT NOT NULL,
        cache_write_tokens BIGINT NOT NULL,
        reasoning_tokens BIGINT NOT NULL,
        cost_usd_nano BIGINT NOT NULL,
        estimated BOOLEAN NOT NULL,
        outcome TEXT NOT NULL,
        http_status BIGINT NOT NULL,
        latency_ms DOUBLE PRECISION NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE INDEX usage_session ON usage_records(session_id, created_at);
      CREATE INDEX usage_agent ON usage_records(agent_id, created_at);
      CREATE INDEX usage_team ON usage_records(team_id, created_at);
      CREATE TABLE signing_keys (
        kid TEXT COLLATE "C" PRIMARY KEY,
        alg TEXT NOT NULL,
        private_jwk TEXT NOT NULL,
        public_jwk TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        retired_at BIGINT
      );
    `,
  },
  {
    version: 2,
    name: 'identity',
    sql: `
      ALTER TABLE sessions ADD COLUMN chain JSON NOT NULL DEFAULT '[]';
      CREATE INDEX sessions_parent ON sessions(parent_id);
      ALTER TABLE usage_records ADD COLUMN chain JSON NOT NULL DEFAULT '[]';
      CREATE TABLE credentials (
        id TEXT COLLATE "C" PRIMARY KEY,
        agent_id TEXT COLLATE "C" NOT NULL REFERENCES agents(id),
        hash TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        revoked_at BIGINT,
        last_used_at BIGINT,
        last_used_from TEXT
      );
      CREATE INDEX credentials_agent ON credentials(agent_id);
      CREATE TABLE revoked_tokens (
        jti TEXT COLLATE "C" PRIMARY KEY,
        expires_at BIGINT NOT NULL,
        revoked_at BIGINT NOT NULL
      );
      CREATE TABLE audit_events (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT COLLATE "C" NOT NULL UNIQUE,
        time BIGINT NOT NULL,
        type TEXT NOT NULL,
        actor TEXT NOT NULL,
        request_id TEXT,
        agent_id TEXT COLLATE "C",
        session_id TEXT COLLATE "C",
        team_id TEXT COLLATE "C",
        chain JSON,
        data JSON NOT NULL
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
      ALTER TABLE teams ADD COLUMN budget JSON;
      ALTER TABLE sessions ADD COLUMN enforcement JSON;
      CREATE TABLE approvals (
        id TEXT COLLATE "C" PRIMARY KEY,
        session_id TEXT COLLATE "C" NOT NULL REFERENCES sessions(id),
        agent_id TEXT NOT NULL,
        team_id TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        decided_at BIGINT,
        decided_by TEXT,
        reason TEXT,
        extra_tokens BIGINT,
        extra_usd_nano BIGINT,
        context JSON NOT NULL
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
        id TEXT COLLATE "C" PRIMARY KEY,
        request_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        team_id TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        model TEXT NOT NULL,
        provider TEXT NOT NULL,
        api TEXT NOT NULL,
        stream BOOLEAN NOT NULL,
        prompt_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        usd_nano BIGINT NOT NULL,
        chain JSON NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX reservations_expiry ON reservations(expires_at);
    `,
  },
  {
    version: 5,
    name: 'tool scopes and tool approvals',
    sql: `
      ALTER TABLE sessions ADD COLUMN scopes JSON;
      ALTER TABLE approvals ADD COLUMN kind TEXT NOT NULL DEFAULT 'budget';
      ALTER TABLE approvals ADD COLUMN consumed_at BIGINT;
    `,
  },
  {
    version: 6,
    name: 'audit chain and checkpoints',
    // seq stops being an identity: appends number events themselves, from the chain head row
    // they lock, so the chain has no gaps (an identity skips the values of rolled-back inserts).
    // The chain starts after the events already stored (they keep null hashes).
    sql: `
      ALTER TABLE audit_events ALTER COLUMN seq DROP IDENTITY;
      ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
      ALTER TABLE audit_events ADD COLUMN hash TEXT;
      CREATE TABLE audit_chain_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        first_seq BIGINT NOT NULL,
        last_seq BIGINT NOT NULL,
        last_hash TEXT NOT NULL
      );
      INSERT INTO audit_chain_head (id, first_seq, last_seq, last_hash)
        SELECT 1, COALESCE(MAX(seq), 0) + 1, COALESCE(MAX(seq), 0), '${GENESIS_HASH}' FROM audit_events;
      CREATE TABLE audit_checkpoints (
        id TEXT COLLATE "C" PRIMARY KEY,
        last_seq BIGINT NOT NULL,
        last_hash TEXT NOT NULL,
        time BIGINT NOT NULL,
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
        id TEXT COLLATE "C" PRIMARY KEY,
        request_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        body TEXT,
        redactions BIGINT NOT NULL,
        created_at BIGINT NOT NULL
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
        id TEXT COLLATE "C" PRIMARY KEY,
        detector TEXT NOT NULL,
        subject TEXT NOT NULL,
        severity TEXT NOT NULL,
        status TEXT NOT NULL,
        summary TEXT NOT NULL,
        verdict TEXT,
        evidence TEXT NOT NULL,
        actions TEXT NOT NULL,
        occurrences BIGINT NOT NULL,
        agent_id TEXT,
        session_id TEXT,
        team_id TEXT,
        profile_id TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        acknowledged_by TEXT,
        resolved_by TEXT
      );
      CREATE INDEX alerts_updated ON alerts(updated_at);
      CREATE INDEX alerts_status ON alerts(status, updated_at);
      CREATE INDEX alerts_agent ON alerts(agent_id, updated_at);
      CREATE TABLE detector_baselines (
        key TEXT COLLATE "C" PRIMARY KEY,
        data TEXT NOT NULL,
        updated_at BIGINT NOT NULL
      );
    `,
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
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        token_hash TEXT,
        created_at BIGINT NOT NULL,
        created_by TEXT,
        disabled_at BIGINT
      );
      CREATE TABLE credential_sources (
        credential_id TEXT COLLATE "C" NOT NULL,
        source TEXT COLLATE "C" NOT NULL,
        first_seen BIGINT NOT NULL,
        last_seen BIGINT NOT NULL,
        PRIMARY KEY (credential_id, source)
      );
      CREATE TABLE access_reviews (
        id TEXT COLLATE "C" PRIMARY KEY,
        signed_at BIGINT NOT NULL,
        signed_by TEXT NOT NULL,
        operator TEXT,
        window_days BIGINT NOT NULL,
        findings TEXT NOT NULL,
        accepted TEXT NOT NULL,
        remediated TEXT NOT NULL,
        note TEXT
      );
      CREATE INDEX access_reviews_signed ON access_reviews(signed_at);
    `,
  },
];
