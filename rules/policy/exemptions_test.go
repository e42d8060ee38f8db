package policy_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/rules/policy"
)

// granted is a valid runtime exemption for a pupil phone in teaching, on one
// school day (Wed 4 November 2026) from 09:00 to 10:00 London time.
func granted(t *testing.T) policy.Exemption {
	return policy.Exemption{
		ID: "01JC0000000000000000000001", MAC: "02-11-22-33-44-55",
		ZoneTypes: []string{"teaching"},
		From:      local(t, "2026-11-04 09:00"), Until: local(t, "2026-11-04 10:00"),
		Reason: "medical", Approver: "Mrs A Patel (Headteacher)", Clauses: []string{"SPT-7"},
	}
}

func TestWithExemptionsApplies(t *testing.T) {
	base := load(t)
	ex := granted(t)
	p, err := base.WithExemptions([]policy.Exemption{ex})
	if err != nil {
		t.Fatal(err)
	}
	pupilPhone := policy.Input{MAC: "02:11:22:33:44:55", Zone: "teaching", ZoneType: "teaching", Role: "pupil", Kind: "phone"}
	tests := []struct {
		name      string
		p         *policy.Policy
		in        policy.Input
		at        string
		action    string
		exemption string
		clauses   string
	}{
		{"base policy: breach", base, pupilPhone, "2026-11-04 09:30", "alert", "", "OSS-2.1,SPT-13"},
		{"granted: allow citing it and its clause", p, pupilPhone, "2026-11-04 09:30", "allow", ex.ID, "OSS-2.1,SPT-13,SPT-7"},
		{"from is included", p, pupilPhone, "2026-11-04 09:00", "allow", ex.ID, "OSS-2.1,SPT-13,SPT-7"},
		{"until is excluded", p, pupilPhone, "2026-11-04 10:00", "alert", "", "OSS-2.1,SPT-13"},
		{"before it starts", p, pupilPhone, "2026-11-04 08:59", "alert", "", "OSS-2.1,SPT-13"},
		{"not another zone type", p, policy.Input{MAC: pupilPhone.MAC, Zone: "staffroom", Role: "pupil", Kind: "phone"},
			"2026-11-04 09:30", "alert", "", "OSS-2.1,SPT-13"},
		{"not another device", p, policy.Input{MAC: "02:11:22:33:44:56", Zone: "teaching", Role: "pupil", Kind: "phone"},
			"2026-11-04 09:30", "alert", "", "OSS-2.1,SPT-13"},
		{"configured exemptions still apply", p, policy.Input{MAC: "aa:bb:cc:00:00:01", Zone: "teaching", Role: "pupil", Kind: "phone"},
			"2026-11-04 09:30", "allow", "EX-2026-001", "OSS-2.1,SPT-13"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.p.Evaluate(tc.in, local(t, tc.at))
			if d.Action != tc.action || d.Exemption != tc.exemption || strings.Join(d.Clauses, ",") != tc.clauses {
				t.Errorf("Evaluate = %+v\nwant action=%s exemption=%q clauses=%s", d, tc.action, tc.exemption, tc.clauses)
			}
			if tc.exemption == ex.ID && !strings.Contains(d.Reason, ex.ID) {
				t.Errorf("reason %q does not name the exemption", d.Reason)
			}
		})
	}

	// Appended after the configured ones, MAC normalised; the base is untouched.
	got := p.Exemptions()
	if n := len(base.Exemptions()); len(got) != n+1 || got[n].ID != ex.ID || got[n].MAC != "02:11:22:33:44:55" {
		t.Errorf("Exemptions() = %+v, want the configured ones then %s with a normalised MAC", got, ex.ID)
	}
	if d := base.Evaluate(pupilPhone, local(t, "2026-11-04 09:30")); d.Exemption != "" {
		t.Errorf("WithExemptions changed the base policy: %+v", d)
	}
}

func TestWithExemptionsByPerson(t *testing.T) {
	ex := granted(t)
	ex.MAC, ex.Person = "", "  J SMITH " // the register's aa:bb:cc:00:00:11, any case
	p, err := load(t).WithExemptions([]policy.Exemption{ex})
	if err != nil {
		t.Fatal(err)
	}
	d := p.Evaluate(policy.Input{MAC: "aa:bb:cc:00:00:11", Zone: "teaching", Role: "staff-direct", Kind: "phone"}, local(t, "2026-11-04 09:30"))
	if d.Action != "allow" || d.Exemption != ex.ID {
		t.Errorf("Evaluate = %+v, want allow citing %s", d, ex.ID)
	}
}

func TestWithExemptionsNextEdge(t *testing.T) {
	ex := granted(t)
	// A Saturday: no schedule edges, and the configured exemptions have no edge
	// nearby, so the next edges are the granted exemption's own.
	ex.From, ex.Until = local(t, "2026-11-07 10:15"), local(t, "2026-11-07 11:45")
	base := load(t)
	p, err := base.WithExemptions([]policy.Exemption{ex})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ after, want string }{
		{"2026-11-07 09:00", "2026-11-07 10:15"},
		{"2026-11-07 10:15", "2026-11-07 11:45"},
	}
	for _, tc := range tests {
		if got := p.NextEdge(local(t, tc.after)); !got.Equal(local(t, tc.want)) {
			t.Errorf("NextEdge(%s) = %v, want %s", tc.after, got.In(london(t)), tc.want)
		}
	}
	if got := base.NextEdge(local(t, "2026-11-07 09:00")); !got.After(local(t, "2026-11-07 11:45")) {
		t.Errorf("base NextEdge = %v: the base policy sees the granted exemption", got.In(london(t)))
	}
}

func TestWithExemptionsRejects(t *testing.T) {
	base := load(t)
	tests := []struct {
		name   string
		change func(*policy.Exemption)
		want   string
	}{
		{"no ID", func(e *policy.Exemption) { e.ID = "" }, "exemption 1 (no ID): an ID is required"},
		{"ID not a name", func(e *policy.Exemption) { e.ID = "bad id!" }, "not a valid name"},
		{"ID of a configured exemption", func(e *policy.Exemption) { e.ID = "EX-2026-001" }, `exemption "EX-2026-001": ID is already used`},
		{"neither mac nor person", func(e *policy.Exemption) { e.MAC = "" }, "exactly one of mac or person"},
		{"both mac and person", func(e *policy.Exemption) { e.Person = "j smith" }, "exactly one of mac or person"},
		{"bad mac", func(e *policy.Exemption) { e.MAC = "not-a-mac" }, "mac:"},
		{"no zones", func(e *policy.Exemption) { e.ZoneTypes = nil }, "give the zones or zone types"},
		{"unknown zone", func(e *policy.Exemption) { e.Zones = []string{"classroom-99"} }, `no zone is named "classroom-99"`},
		{"unknown zone type", func(e *policy.Exemption) { e.ZoneTypes = []string{"classroom"} }, `unknown zone type "classroom"`},
		{"until before from", func(e *policy.Exemption) { e.Until = e.From.Add(-time.Minute) }, "until must be after from"},
		{"until equals from", func(e *policy.Exemption) { e.Until = e.From }, "until must be after from"},
		{"no from", func(e *policy.Exemption) { e.From = time.Time{} }, "from and until are required"},
		{"unknown reason", func(e *policy.Exemption) { e.Reason = "because" }, `unknown reason "because"`},
		{"no approver", func(e *policy.Exemption) { e.Approver = "  " }, "approver must name who approved it"},
		{"clause not in the catalogue", func(e *policy.Exemption) { e.Clauses = []string{"SPT-99"} }, `clause "SPT-99" is not in the clause catalogue`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ex := granted(t)
			tc.change(&ex)
			p, err := base.WithExemptions([]policy.Exemption{ex})
			if err == nil {
				t.Fatalf("accepted %+v", ex)
			}
			if p != nil {
				t.Errorf("returned a policy with the error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if tc.name != "no ID" && !strings.Contains(err.Error(), ex.ID) {
				t.Errorf("error %q does not name the exemption %q", err, ex.ID)
			}
		})
	}

	// Two in one call with the same ID; every invalid one is reported.
	a, b, c := granted(t), granted(t), granted(t)
	c.ID, c.Reason = "01JC0000000000000000000003", "whim"
	_, err := base.WithExemptions([]policy.Exemption{a, b, c})
	if err == nil || !strings.Contains(err.Error(), "ID is already used") || !strings.Contains(err.Error(), c.ID) {
		t.Errorf("duplicate and invalid in one call: %v", err)
	}
	// Nothing extra is a copy that behaves as the base.
	p, err := base.WithExemptions(nil)
	if err != nil || !slices.EqualFunc(p.Exemptions(), base.Exemptions(), func(x, y policy.Exemption) bool { return x.ID == y.ID }) {
		t.Errorf("WithExemptions(nil) = %v, %v", p, err)
	}
}
