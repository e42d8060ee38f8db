package daemon

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
)

// The live state lives in go-memdb: devices indexed by MAC, IP and zone. Stored
// objects are never mutated: the loop writes a fresh copy (copy-on-write), so
// readers (dashboard, API) get consistent snapshots without locks.
const tableDevices = "device"

func newStateDB() (*memdb.MemDB, error) {
	schema := &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableDevices: {
			Name: tableDevices,
			Indexes: map[string]*memdb.IndexSchema{
				"id":   {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "MAC"}},
				"ip":   {Name: "ip", AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "IP"}},
				"zone": {Name: "zone", AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "Zone"}},
			},
		},
	}}
	db, err := memdb.NewMemDB(schema)
	if err != nil {
		return nil, fmt.Errorf("daemon: live state schema: %w", err)
	}
	return db, nil
}
