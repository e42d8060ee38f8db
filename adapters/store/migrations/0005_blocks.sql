-- 0005_blocks: the desired firewall blocks, saved after each successful apply, so a
-- restart (even after kill -9) restores them before the devices are seen again
-- instead of unblocking everyone and re-blocking device by device.
CREATE TABLE blocks (
    site_id    TEXT NOT NULL,
    mac        TEXT NOT NULL,
    vlan       INTEGER NOT NULL,
    ipv4       TEXT NOT NULL, -- JSON array
    ipv6       TEXT NOT NULL, -- JSON array
    rule       TEXT NOT NULL,
    clauses    TEXT NOT NULL, -- JSON array
    PRIMARY KEY (site_id, mac)
) STRICT;
