-- 0004_exemptions: the runtime exemptions register. SLT (or the DSL) grant an
-- exemption in advance, documented and time-boxed (OSS-4, OSS-5, OSS-6, SPT-3,
-- SPT-5, SPT-7); the daemon applies the unrevoked ones on top of the
-- configuration's own. Rows are safeguarding records: they are never purged by
-- retention and never deleted; revoking one sets revoked_at and revoked_by.
-- Granting and revoking are audited in the same transaction (exemptions.go).
CREATE TABLE exemptions (
    id         TEXT PRIMARY KEY,                                   -- ULID
    site_id    TEXT NOT NULL,
    mac        TEXT NOT NULL,                                      -- '' when person is set
    person     TEXT NOT NULL,                                      -- '' when mac is set
    zones      TEXT NOT NULL CHECK (json_valid(zones)),            -- JSON array of zone names
    zone_types TEXT NOT NULL CHECK (json_valid(zone_types)),       -- JSON array of zone types
    from_at    INTEGER NOT NULL,
    until_at   INTEGER NOT NULL CHECK (until_at > from_at),
    reason     TEXT NOT NULL CHECK (reason <> ''),
    clauses    TEXT NOT NULL CHECK (json_valid(clauses)),          -- JSON array of clause IDs
    approver   TEXT NOT NULL,
    note       TEXT NOT NULL,
    created_by TEXT NOT NULL CHECK (created_by <> ''),
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    revoked_by TEXT NOT NULL,
    CHECK ((mac = '') <> (person = '')),
    CHECK ((revoked_at IS NULL) = (revoked_by = ''))
) STRICT;

-- ListExemptions: newest first.
CREATE INDEX exemptions_created ON exemptions (created_at DESC, id DESC);

CREATE TRIGGER exemptions_no_delete BEFORE DELETE ON exemptions
BEGIN
    SELECT RAISE(ABORT, 'exemptions are safeguarding records: DELETE rejected (revoke instead)');
END;
