-- 0006_users: user management from the dashboard. An account can be disabled
-- (it cannot sign in and its sessions are gone) instead of deleted, so the audit
-- log's actor names keep pointing at a known account; last_login_at is the time
-- of the account's latest session (NULL: never signed in since this migration).
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
ALTER TABLE users ADD COLUMN last_login_at INTEGER;
