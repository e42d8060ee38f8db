-- 0002_zone_history: where each device was, and when (device-minutes per zone for
-- the daily report; the device page's history). MACs are personal data: rows are
-- removed by the retention purge like alerts.
CREATE TABLE zone_history (
    site_id    TEXT NOT NULL,
    mac        TEXT NOT NULL,
    zone       TEXT NOT NULL,
    from_at    INTEGER NOT NULL,
    to_at      INTEGER NOT NULL CHECK (to_at >= from_at),
    PRIMARY KEY (site_id, mac, from_at)
) STRICT;

CREATE INDEX zone_history_by_time ON zone_history (site_id, from_at);
