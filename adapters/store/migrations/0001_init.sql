-- 0001_init: alerts, audit log, dashboard accounts, daily rollups.
--
-- Conventions:
--   * every table is STRICT and every row carries site_id, so records can later be
--     replicated into a trust-wide view without being rewritten;
--   * times are INTEGER unix nanoseconds, UTC (exact round trip, cheap range scans);
--   * alerts and audit entries have an immutable ULID primary identifier.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,
    site_id         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('new', 'acknowledged', 'resolved')),
    severity        TEXT NOT NULL,
    action          TEXT NOT NULL,
    opened_at       INTEGER NOT NULL,
    closed_at       INTEGER,
    device_mac      TEXT NOT NULL,
    device_kind     TEXT NOT NULL,
    device_os       TEXT NOT NULL,
    device_hostname TEXT NOT NULL,
    device_role     TEXT NOT NULL,
    zone            TEXT NOT NULL,
    rule            TEXT NOT NULL,
    clauses         TEXT NOT NULL CHECK (json_valid(clauses)),
    reason          TEXT NOT NULL,
    acknowledged_by TEXT NOT NULL,
    acknowledged_at INTEGER,
    resolved_by     TEXT NOT NULL,
    resolved_at     INTEGER,
    outcome         TEXT NOT NULL,
    note            TEXT NOT NULL
) STRICT;

-- ListAlerts: newest first, optionally by state.
CREATE INDEX alerts_opened ON alerts (opened_at DESC, id DESC);
CREATE INDEX alerts_state_opened ON alerts (state, opened_at DESC, id DESC);
-- OpenAlerts after a restart.
CREATE INDEX alerts_open ON alerts (opened_at) WHERE closed_at IS NULL;
-- Purge by retention cutoff.
CREATE INDEX alerts_closed ON alerts (closed_at) WHERE closed_at IS NOT NULL;

-- The audit log is append-only and hash-chained in seq order (see audit.go).
CREATE TABLE audit (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    site_id      TEXT NOT NULL,
    at           INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT NOT NULL,
    before_value TEXT NOT NULL,
    after_value  TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
) STRICT;

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only: UPDATE rejected');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only: DELETE rejected');
END;

CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    site_id       TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'dsl', 'slt', 'viewer')),
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    site_id    TEXT NOT NULL,
    user_name  TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE ON UPDATE CASCADE,
    csrf       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_user ON sessions (user_name);

CREATE TABLE api_tokens (
    name       TEXT PRIMARY KEY,
    site_id    TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'dsl', 'slt', 'viewer')),
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE daily_rollups (
    site_id         TEXT NOT NULL,
    day             TEXT NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    zone            TEXT NOT NULL,
    devices_seen    INTEGER NOT NULL CHECK (devices_seen >= 0),
    breach_episodes INTEGER NOT NULL CHECK (breach_episodes >= 0),
    breach_minutes  REAL NOT NULL CHECK (breach_minutes >= 0),
    PRIMARY KEY (site_id, day, zone)
) STRICT;
