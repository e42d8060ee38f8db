-- 0007_report_runs: reports the daemon e-mails at a set time (the SLT's daily
-- zone-compliance report, the governors' termly summary). One row per report kind
-- and day, written before the first attempt, so a restart after the set time sends
-- a missed report once and a sent one never again. Rows hold recipients' addresses
-- (staff, not pupils) and no device data; the audit entry "report.sent" is written
-- in the same transaction that marks a row sent.
CREATE TABLE report_runs (
    site_id         TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('daily', 'termly')),
    day             TEXT NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    recipients      TEXT NOT NULL CHECK (json_valid(recipients)),  -- JSON array of addresses
    formats         TEXT NOT NULL CHECK (json_valid(formats)),     -- JSON array: pdf, html, csv
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    PRIMARY KEY (site_id, kind, day),
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
) STRICT;
