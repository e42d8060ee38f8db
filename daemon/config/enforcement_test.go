package config

import (
	"strings"
	"testing"
)

const enforceBase = `school: {name: T, site_id: t}
interfaces: [{name: eth1}]
zones: [{name: teaching, type: teaching, vlans: [30]}]
rules:
  - name: pupil-phones
    when: {roles: [pupil], zone_types: [teaching]}
    then: {action: block, severity: high, clauses: [OSS-2.1], message: Pupil's phone in a teaching area.}
default: {action: allow, message: ok}
`

func TestEnforcementSection(t *testing.T) {
	c, err := Parse("e.yaml", []byte(enforceBase+`enforcement:
  mode: enforce
  backend: iptables
  protect: [{vlan: 30, interface: br-pupil}]
  management_vlans: [10]
  never_block: ["AA-BB-CC-DD-EE-FF"]
  max_block_share: 0.25
`))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Enforcement
	if e.Mode != "enforce" || e.Backend != "iptables" || len(e.Protect) != 1 || e.Protect[0].VLAN != 30 ||
		e.Protect[0].Interface != "br-pupil" || e.ManagementVLANs[0] != 10 || e.NeverBlock[0] != "aa:bb:cc:dd:ee:ff" || e.MaxBlockShare != 0.25 {
		t.Fatalf("enforcement = %+v", e)
	}
	_, err = Parse("e.yaml", []byte(enforceBase+`enforcement:
  protect: [{vlan: 10, interface: eth1.10}, {vlan: 5000, interface: x}]
  management_vlans: [10]
  max_block_share: 2
`))
	for _, want := range []string{"VLAN 10 is both protected and a management VLAN", `"5000" is not a VLAN ID`, "max_block_share"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
