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

/**
 * What only the shared store has (migration 9: the shared ledger, replica heartbeats; and the
 * holds' expiry index, which SQLite dropped in its migration 11: there one process reconciles its
 * own holds at start, while replicas look for each other's expired holds on a timer), as
 * `table.column` and `table.index`: everything else mirrors the SQLite schema exactly.
 */
export const POSTGRES_ONLY = {
  columns: [
    ...['key', 'level', 'budget_tokens', 'budget_usd_nano', 'spent_tokens', 'spent_usd_nano', 'reserved_tokens', 'reserved_usd_nano', 'parent_key', 'slice_tokens', 'slice_usd_nano', 'ended', 'updated_at'].map((c) => `budget_accounts.${c}`),
    ...['id', 'started_at', 'heartbeat_at'].map((c) => `replicas.${c}`),
    ...['replica_id', 'accounts', 'hold_tokens', 'hold_usd_nano'].map((c) => `reservations.${c}`),
  ],
  indexes: ['reservations.reservations_replica', 'reservations.reservations_expiry', 'audit_events.audit_session', 'usage_records.usage_session', 'audit_events.audit_agent', 'audit_events.audit_type', 'usage_records.usage_agent', 'usage_records.usage_team'],
} as const;

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
    version: 9,
    name: 'scale_out',
    // Several replicas on one database (docs/operations.md#running-several-replicas):
    // - budget_accounts: the shared ledger, one row per account (a session; an agent's or a team's
    //   period) with its budget, settled spend and holds. Every check-and-hold is one function
    //   call that locks the accounts it touches in key order (so contending calls queue, never
    //   deadlock) — see src/budget/shared-ledger.ts.
    // - reservations gain the replica that holds them and the accounts held: a call's hold is
    //   written by tollgate_reserve() itself and ended by its spend line (tollgate_settle_lines()
    //   in recordUsage's statement), so holds left behind are exactly the calls that never settled.
    // - replicas: heartbeats, so a survivor can tell a dead replica's holds from a slow one's.
    // - triggers announce changes other replicas cache (revocations, statuses, budgets, keys) on
    //   the channel 'tollgate.<schema>'.
    sql: `
      CREATE TABLE budget_accounts (
        key TEXT COLLATE "C" PRIMARY KEY,
        level TEXT NOT NULL,
        budget_tokens BIGINT,
        budget_usd_nano BIGINT,
        spent_tokens BIGINT NOT NULL DEFAULT 0,
        spent_usd_nano BIGINT NOT NULL DEFAULT 0,
        reserved_tokens BIGINT NOT NULL DEFAULT 0,
        reserved_usd_nano BIGINT NOT NULL DEFAULT 0,
        parent_key TEXT COLLATE "C",
        slice_tokens BIGINT NOT NULL DEFAULT 0,
        slice_usd_nano BIGINT NOT NULL DEFAULT 0,
        ended BOOLEAN NOT NULL DEFAULT false,
        updated_at BIGINT NOT NULL
      );
      ALTER TABLE reservations ADD COLUMN replica_id TEXT;
      ALTER TABLE reservations ADD COLUMN accounts TEXT[];
      ALTER TABLE reservations ADD COLUMN hold_tokens BIGINT;
      ALTER TABLE reservations ADD COLUMN hold_usd_nano BIGINT;
      CREATE INDEX reservations_replica ON reservations(replica_id);
      CREATE TABLE replicas (
        id TEXT COLLATE "C" PRIMARY KEY,
        started_at BIGINT NOT NULL,
        heartbeat_at BIGINT NOT NULL
      );

      -- The accounts named and every ancestor of theirs (delegation), locked in key order.
      CREATE FUNCTION tollgate_lock_accounts(p_keys TEXT[]) RETURNS SETOF budget_accounts LANGUAGE sql AS $$
        WITH RECURSIVE up(key) AS (
          SELECT unnest(p_keys) COLLATE "C"
          UNION
          SELECT a.parent_key FROM budget_accounts a JOIN up ON a.key = up.key WHERE a.parent_key IS NOT NULL
        )
        SELECT a.* FROM budget_accounts a WHERE a.key IN (SELECT key FROM up) ORDER BY a.key FOR UPDATE OF a
      $$;

      -- The unit ('usd' or 'tokens') in which account a cannot cover an amount, or NULL if it can.
      CREATE FUNCTION tollgate_short(a budget_accounts, p_tokens BIGINT, p_usd BIGINT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE WHEN a.budget_usd_nano IS NOT NULL AND p_usd > a.budget_usd_nano - a.spent_usd_nano - a.reserved_usd_nano THEN 'usd'
                    WHEN a.budget_tokens IS NOT NULL AND p_tokens > a.budget_tokens - a.spent_tokens - a.reserved_tokens THEN 'tokens' END
      $$;

      -- Reserves for a batch of calls (one replica's calls of one moment), in order: each call's
      -- amount is held on every one of its accounts or on none. All the accounts are locked first,
      -- in key order. p_calls: [{"keys":[…],"tokens":n,"usd":n,"hold":{reservation row}|null}].
      -- Returns {"short":[per call: null, or {"unit":'usd'|'tokens',"key":the account short}], "accounts":[rows as they now stand]}.
      CREATE FUNCTION tollgate_reserve(p_replica TEXT, p_calls JSON) RETURNS JSON LANGUAGE plpgsql AS $$
      DECLARE
        c JSON;
        keys TEXT[];
        k TEXT;
        need_tokens BIGINT;
        need_usd BIGINT;
        unit TEXT;
        shorts JSON[] := '{}';
        all_keys TEXT[] := ARRAY(SELECT DISTINCT json_array_elements_text(x->'keys') FROM json_array_elements(p_calls) x);
      BEGIN
        IF (SELECT count(*) FROM (SELECT 1 FROM budget_accounts a WHERE a.key = ANY(all_keys) ORDER BY a.key FOR UPDATE) locked) <> cardinality(all_keys) THEN
          RAISE EXCEPTION 'tollgate_reserve: an account is missing (%)', all_keys;
        END IF;
        FOR c IN SELECT * FROM json_array_elements(p_calls) LOOP
          keys := ARRAY(SELECT json_array_elements_text(c->'keys'));
          need_tokens := (c->>'tokens')::bigint;
          need_usd := (c->>'usd')::bigint;
          -- The first account, in the call's order (session, agent, team), that cannot cover it.
          unit := NULL;
          FOREACH k IN ARRAY keys LOOP
            SELECT tollgate_short(a, need_tokens, need_usd) INTO unit FROM budget_accounts a WHERE a.key = k;
            EXIT WHEN unit IS NOT NULL;
          END LOOP;
          IF unit IS NULL THEN
            UPDATE budget_accounts a SET reserved_tokens = a.reserved_tokens + need_tokens, reserved_usd_nano = a.reserved_usd_nano + need_usd WHERE a.key = ANY(keys);
            -- The call's hold (its reservation row, naming this replica): its spend line ends it.
            IF json_typeof(c->'hold') = 'object' THEN
              INSERT INTO reservations SELECT (json_populate_record(NULL::reservations, c->'hold')).*;
              UPDATE reservations r SET replica_id = p_replica, accounts = keys, hold_tokens = need_tokens, hold_usd_nano = need_usd WHERE r.id = c->'hold'->>'id';
            END IF;
          END IF;
          shorts := shorts || CASE WHEN unit IS NULL THEN 'null'::json ELSE json_build_object('unit', unit, 'key', k) END;
        END LOOP;
        RETURN json_build_object('short', to_json(shorts), 'accounts',
          (SELECT json_agg(json_build_object('key', a.key, 'budget_tokens', a.budget_tokens, 'budget_usd_nano', a.budget_usd_nano, 'spent_tokens', a.spent_tokens,
             'spent_usd_nano', a.spent_usd_nano, 'reserved_tokens', a.reserved_tokens, 'reserved_usd_nano', a.reserved_usd_nano, 'ended', a.ended))
           FROM budget_accounts a WHERE a.key = ANY(all_keys)));
      END $$;

      -- Replaces holds with what the calls cost: each hold's amount leaves reserved and the actual
      -- joins spent, on its accounts and — where a session already ended — on the ancestors that
      -- settled its slice. p_holds: [{"keys":[…],"tokens":n,"usd":n,"actual_tokens":n,"actual_usd":n}].
      CREATE FUNCTION tollgate_apply_settle(p_holds JSON) RETURNS void LANGUAGE plpgsql AS $$
      DECLARE
        h JSON;
        k TEXT;
        acc budget_accounts;
      BEGIN
        PERFORM 1 FROM tollgate_lock_accounts(ARRAY(SELECT json_array_elements_text(x->'keys') FROM json_array_elements(p_holds) x));
        FOR h IN SELECT * FROM json_array_elements(p_holds) LOOP
          FOR k IN SELECT json_array_elements_text(h->'keys') LOOP
            UPDATE budget_accounts a SET reserved_tokens = a.reserved_tokens - (h->>'tokens')::bigint, reserved_usd_nano = a.reserved_usd_nano - (h->>'usd')::bigint,
              spent_tokens = a.spent_tokens + (h->>'actual_tokens')::bigint, spent_usd_nano = a.spent_usd_nano + (h->>'actual_usd')::bigint
              WHERE a.key = k RETURNING * INTO acc;
            WHILE acc.ended AND acc.parent_key IS NOT NULL LOOP
              UPDATE budget_accounts a SET reserved_tokens = a.reserved_tokens - (h->>'tokens')::bigint, reserved_usd_nano = a.reserved_usd_nano - (h->>'usd')::bigint,
                spent_tokens = a.spent_tokens + (h->>'actual_tokens')::bigint, spent_usd_nano = a.spent_usd_nano + (h->>'actual_usd')::bigint
                WHERE a.key = acc.parent_key RETURNING * INTO acc;
            END LOOP;
          END LOOP;
        END LOOP;
      END $$;

      -- Settles the holds of calls whose spend lines were just written (same ids): deletes each
      -- hold and applies it. A line without a hold (already settled, or never held) does nothing.
      CREATE FUNCTION tollgate_settle_lines(p_ids TEXT[], p_tokens BIGINT[], p_usd BIGINT[]) RETURNS INTEGER LANGUAGE plpgsql AS $$
      DECLARE
        holds JSON;
      BEGIN
        WITH gone AS (
          DELETE FROM reservations r USING unnest(p_ids, p_tokens, p_usd) AS l(id, tokens, usd)
          WHERE r.id = l.id AND r.accounts IS NOT NULL
          RETURNING r.accounts, r.hold_tokens, r.hold_usd_nano, l.tokens, l.usd
        )
        SELECT json_agg(json_build_object('keys', accounts, 'tokens', hold_tokens, 'usd', hold_usd_nano, 'actual_tokens', tokens, 'actual_usd', usd)) INTO holds FROM gone;
        IF holds IS NULL THEN RETURN 0; END IF;
        PERFORM tollgate_apply_settle(holds);
        RETURN json_array_length(holds);
      END $$;

      -- Carves a child's slice from its parent (false: the parent cannot cover it) and opens the
      -- child's account.
      CREATE FUNCTION tollgate_delegate(p_parent TEXT, p_child TEXT, p_budget_tokens BIGINT, p_budget_usd BIGINT, p_slice_tokens BIGINT, p_slice_usd BIGINT, p_now BIGINT)
      RETURNS BOOLEAN LANGUAGE plpgsql AS $$
      DECLARE
        p budget_accounts;
      BEGIN
        SELECT * INTO p FROM budget_accounts WHERE key = p_parent FOR UPDATE;
        IF tollgate_short(p, p_slice_tokens, p_slice_usd) IS NOT NULL THEN RETURN false; END IF;
        UPDATE budget_accounts SET reserved_tokens = reserved_tokens + p_slice_tokens, reserved_usd_nano = reserved_usd_nano + p_slice_usd WHERE key = p_parent;
        INSERT INTO budget_accounts (key, level, budget_tokens, budget_usd_nano, parent_key, slice_tokens, slice_usd_nano, updated_at)
          VALUES (p_child, 'session', p_budget_tokens, p_budget_usd, p_parent, p_slice_tokens, p_slice_usd, p_now);
        RETURN true;
      END $$;

      -- Adds budget to a session; a delegated one carves the addition from its parent (false: the
      -- parent cannot cover it, nothing changes).
      CREATE FUNCTION tollgate_grow(p_key TEXT, p_tokens BIGINT, p_usd BIGINT) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
      DECLARE
        a budget_accounts;
        p budget_accounts;
      BEGIN
        PERFORM 1 FROM tollgate_lock_accounts(ARRAY[p_key]);
        SELECT * INTO a FROM budget_accounts WHERE key = p_key;
        IF a.parent_key IS NOT NULL AND NOT a.ended THEN
          SELECT * INTO p FROM budget_accounts WHERE key = a.parent_key;
          IF tollgate_short(p, p_tokens, p_usd) IS NOT NULL THEN RETURN false; END IF;
          UPDATE budget_accounts SET reserved_tokens = reserved_tokens + p_tokens, reserved_usd_nano = reserved_usd_nano + p_usd WHERE key = a.parent_key;
          UPDATE budget_accounts SET slice_tokens = slice_tokens + p_tokens, slice_usd_nano = slice_usd_nano + p_usd WHERE key = p_key;
        END IF;
        UPDATE budget_accounts SET budget_tokens = budget_tokens + p_tokens, budget_usd_nano = budget_usd_nano + p_usd WHERE key = p_key;
        RETURN true;
      END $$;

      -- Ends a session's account: its slice on the parent is settled with what it spent; what its
      -- calls in flight hold stays held on the parent (and on ended ancestors' parents) until they settle.
      CREATE FUNCTION tollgate_end(p_key TEXT) RETURNS void LANGUAGE plpgsql AS $$
      DECLARE
        a budget_accounts;
        up budget_accounts;
      BEGIN
        PERFORM 1 FROM tollgate_lock_accounts(ARRAY[p_key]);
        SELECT * INTO a FROM budget_accounts WHERE key = p_key;
        IF a.key IS NULL OR a.ended THEN RETURN; END IF;
        UPDATE budget_accounts SET ended = true WHERE key = p_key;
        IF a.parent_key IS NULL THEN RETURN; END IF;
        UPDATE budget_accounts SET reserved_tokens = reserved_tokens - a.slice_tokens + a.reserved_tokens, reserved_usd_nano = reserved_usd_nano - a.slice_usd_nano + a.reserved_usd_nano,
          spent_tokens = spent_tokens + a.spent_tokens, spent_usd_nano = spent_usd_nano + a.spent_usd_nano
          WHERE key = a.parent_key RETURNING * INTO up;
        WHILE up.ended AND up.parent_key IS NOT NULL LOOP
          UPDATE budget_accounts SET reserved_tokens = reserved_tokens + a.reserved_tokens, reserved_usd_nano = reserved_usd_nano + a.reserved_usd_nano,
            spent_tokens = spent_tokens + a.spent_tokens, spent_usd_nano = spent_usd_nano + a.spent_usd_nano
            WHERE key = up.parent_key RETURNING * INTO up;
        END LOOP;
        UPDATE budget_accounts SET slice_tokens = 0, slice_usd_nano = 0 WHERE key = p_key;
      END $$;

      -- The change feed: what other replicas cache, announced on 'tollgate.<schema>'.
      CREATE FUNCTION tollgate_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        r JSON := row_to_json(NEW);
      BEGIN
        PERFORM pg_notify('tollgate.' || TG_TABLE_SCHEMA, json_build_object('table', TG_TABLE_NAME, 'id', coalesce(r->>'id', r->>'jti', r->>'kid'),
          'expires_at', CASE WHEN TG_TABLE_NAME = 'revoked_tokens' THEN r->'expires_at' END)::text);
        RETURN NULL;
      END $$;
      CREATE TRIGGER revoked_tokens_feed AFTER INSERT ON revoked_tokens FOR EACH ROW EXECUTE FUNCTION tollgate_notify_change();
      CREATE TRIGGER signing_keys_feed AFTER INSERT OR UPDATE ON signing_keys FOR EACH ROW EXECUTE FUNCTION tollgate_notify_change();
      CREATE TRIGGER sessions_feed AFTER UPDATE ON sessions FOR EACH ROW
        WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.budget_tokens IS DISTINCT FROM NEW.budget_tokens OR OLD.budget_usd_nano IS DISTINCT FROM NEW.budget_usd_nano
          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at OR OLD.enforcement::text IS DISTINCT FROM NEW.enforcement::text OR OLD.scopes::text IS DISTINCT FROM NEW.scopes::text)
        EXECUTE FUNCTION tollgate_notify_change();
      CREATE TRIGGER agents_feed AFTER UPDATE ON agents FOR EACH ROW EXECUTE FUNCTION tollgate_notify_change();
      CREATE TRIGGER teams_feed AFTER UPDATE ON teams FOR EACH ROW EXECUTE FUNCTION tollgate_notify_change();
      CREATE TRIGGER profiles_feed AFTER UPDATE ON profiles FOR EACH ROW EXECUTE FUNCTION tollgate_notify_change();
      CREATE TRIGGER approvals_feed AFTER INSERT OR UPDATE OF status ON approvals FOR EACH ROW EXECUTE FUNCTION tollgate_notify_change();
      CREATE TRIGGER credentials_feed AFTER UPDATE ON credentials FOR EACH ROW WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
        EXECUTE FUNCTION tollgate_notify_change();
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
  {
    version: 11,
    name: 'reservations keyed by id',
    // The same version as SQLite's, where holds moved to a table keyed by id without a rowid and
    // lost their expiry index. PostgreSQL's table is already a heap with its primary key, and the
    // index stays: replicas look for each other's expired holds on a timer.
    sql: `
      COMMENT ON TABLE reservations IS 'Holds of calls in flight: inserted at reserve, deleted by the call''s spend line.';
    `,
  },
  {
    version: 12,
    name: 'session indexes kept in bulk',
    // The same version as SQLite's, where audit events and spend lines by session moved from
    // indexes updated on every commit to index tables filled in bulk (sqlite/session-index.ts).
    // PostgreSQL keeps its indexes: its replicas commit apart, on a server built for them.
    sql: `
      COMMENT ON INDEX audit_session IS 'Audit events by session (SQLite keeps this in bulk: audit_session_index).';
      COMMENT ON INDEX usage_session IS 'Spend lines by session (SQLite keeps this in bulk: usage_session_index).';
    `,
  },
  {
    version: 13,
    name: 'audit events by agent kept in bulk',
    // The same version as SQLite's, where audit events by agent joined the indexes kept in bulk.
    sql: `
      COMMENT ON INDEX audit_agent IS 'Audit events by agent (SQLite keeps this in bulk: audit_agent_index).';
    `,
  },
  {
    version: 14,
    name: 'audit events by type kept in bulk',
    // The same version as SQLite's, where audit events by type joined the indexes kept in bulk.
    sql: `
      COMMENT ON INDEX audit_type IS 'Audit events by type (SQLite keeps this in bulk: audit_type_index).';
    `,
  },
  {
    version: 15,
    name: 'spend by quarter hour; spend lines by agent and team kept in bulk',
    // The same version as SQLite's, where a period's spend is read from quarter hours of spend and
    // spend lines by agent and team joined the indexes kept in bulk. PostgreSQL keeps reading the
    // lines through its indexes: a bucket row every replica's commit updated would serialize them.
    sql: `
      COMMENT ON INDEX usage_agent IS 'Spend lines by agent (SQLite keeps this in bulk: usage_agent_index).';
      COMMENT ON INDEX usage_team IS 'Spend lines by team (SQLite keeps this in bulk: usage_team_index).';
    `,
  },
  {
    version: 16,
    name: 'session budgets grown within a maximum',
    // A renewal may not take a session's budget above its profile's maximum. The replica that
    // renews checked it against its own copy of the account, so two replicas renewing at once
    // could each pass: the check now runs under the account's lock, with the growth. A new
    // function, not a changed one: replicas of the previous version keep calling tollgate_grow.
    sql: `
      -- Adds budget to a session as tollgate_grow does, unless that would take the budget above
      -- p_most (per unit; NULL: no maximum). 'ok', or what stopped it: 'tokens' or 'usd' (above
      -- the maximum), 'parent' (a delegated session's parent cannot cover it). Nothing changes then.
      CREATE FUNCTION tollgate_grow_within(p_key TEXT, p_tokens BIGINT, p_usd BIGINT, p_most_tokens BIGINT, p_most_usd BIGINT) RETURNS TEXT LANGUAGE plpgsql AS $$
      DECLARE
        a budget_accounts;
      BEGIN
        PERFORM 1 FROM tollgate_lock_accounts(ARRAY[p_key]);
        SELECT * INTO a FROM budget_accounts WHERE key = p_key;
        IF p_tokens > 0 AND a.budget_tokens + p_tokens > p_most_tokens THEN RETURN 'tokens'; END IF;
        IF p_usd > 0 AND a.budget_usd_nano + p_usd > p_most_usd THEN RETURN 'usd'; END IF;
        IF NOT tollgate_grow(p_key, p_tokens, p_usd) THEN RETURN 'parent'; END IF;
        RETURN 'ok';
      END $$;
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
