-- 0003_outbox: the notification outbox (adapters/notify). One row per alert,
-- channel and kind (a first notification or an escalation), written after the
-- alert is committed and delivered by a worker that retries with backoff, so an
-- unreachable mail server delays an alert but never loses it.
--
-- The payload holds the alert as JSON (device MAC and host name among it: personal
-- data). Rows go with their alert: the retention purge deletes alerts, and the
-- foreign key removes their outbox rows in the same statement.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,                     -- ULID
    site_id         TEXT NOT NULL,
    alert_id        TEXT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    channel         TEXT NOT NULL CHECK (channel <> ''),
    kind            TEXT NOT NULL CHECK (kind IN ('notify', 'escalate')),
    payload         TEXT NOT NULL CHECK (json_valid(payload)),
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'suppressed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    UNIQUE (alert_id, channel, kind)
) STRICT;

-- Due: pending rows by next attempt.
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
-- Throttle: recent notifications (joined to alerts for device and rule).
CREATE INDEX outbox_created ON outbox (created_at);
