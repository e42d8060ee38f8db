package policy

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"
)

// zoneOverlaps reports each zone that can match a device an earlier zone also
// matches: the earlier one wins, so the later is (partly) unreachable. A sighting may
// or may not carry each of the AP, SSID and option 82 fields, so every combination
// is tried.
func zoneOverlaps(zones []Zone) []Warning {
	var out []Warning
	for j := range zones {
		for i := 0; i < j; i++ {
			if why, ok := zonesOverlap(&zones[i], &zones[j]); ok {
				out = append(out, Warning{Pos: zones[j].Pos, Msg: fmt.Sprintf(
					"zone %q can match the same devices as zone %q at line %d:%d (%s); the zone listed first wins",
					zones[j].Name, zones[i].Name, zones[i].Pos.Line, zones[i].Pos.Col, why)})
				break
			}
		}
	}
	return out
}

func zonesOverlap(a, b *Zone) (string, bool) {
	type optional struct {
		a, b  []string
		inter func() (string, bool)
	}
	common := func(x, y []string, what string) func() (string, bool) {
		return func() (string, bool) {
			for _, v := range x {
				if slices.Contains(y, v) {
					return what + " " + v, true
				}
			}
			return "", false
		}
	}
	opts := []optional{
		{a: a.SSIDs, b: b.SSIDs, inter: common(a.SSIDs, b.SSIDs, "SSID")},
		{a: a.APs, b: b.APs, inter: func() (string, bool) {
			for _, x := range a.APs {
				for _, y := range b.APs {
					if globsMayOverlap(x, y) {
						return "APs " + x + " and " + y, true
					}
				}
			}
			return "", false
		}},
		{a: a.CircuitIDs, b: b.CircuitIDs, inter: common(a.CircuitIDs, b.CircuitIDs, "circuit ID")},
		{a: a.RemoteIDs, b: b.RemoteIDs, inter: common(a.RemoteIDs, b.RemoteIDs, "remote ID")},
	}
	var why []string
	if len(a.VLANs) > 0 && len(b.VLANs) > 0 {
		v := -1
		for _, x := range a.VLANs {
			if slices.Contains(b.VLANs, x) {
				v = int(x)
				break
			}
		}
		if v < 0 {
			return "", false
		}
		why = append(why, fmt.Sprintf("VLAN %d", v))
	}
	if len(a.Subnets) > 0 && len(b.Subnets) > 0 {
		var hit []netip.Prefix
		for _, x := range a.Subnets {
			for _, y := range b.Subnets {
				if x.Overlaps(y) {
					hit = []netip.Prefix{x, y}
					break
				}
			}
			if hit != nil {
				break
			}
		}
		if hit == nil {
			return "", false
		}
		if hit[0] == hit[1] {
			why = append(why, "subnet "+hit[0].String())
		} else {
			why = append(why, "subnets "+hit[0].String()+" and "+hit[1].String())
		}
	}
	strictA := len(a.VLANs)+len(a.Subnets) > 0
	strictB := len(b.VLANs)+len(b.Subnets) > 0
	// Try every set of optional fields the sighting carries (bit k: field k).
	for set := 0; set < 1<<len(opts); set++ {
		checkedA, checkedB, ok := strictA, strictB, true
		var extra []string
		for k, o := range opts {
			if set&(1<<k) == 0 {
				continue
			}
			checkedA = checkedA || len(o.a) > 0
			checkedB = checkedB || len(o.b) > 0
			if len(o.a) > 0 && len(o.b) > 0 {
				w, hit := o.inter()
				if !hit {
					ok = false
					break
				}
				extra = append(extra, w)
			}
		}
		if ok && checkedA && checkedB {
			all := append(slices.Clone(why), extra...)
			if len(all) == 0 {
				all = []string{"their criteria do not exclude each other"}
			}
			return strings.Join(all, ", "), true
		}
	}
	return "", false
}

// globsMayOverlap reports whether some name could match both globs: when either
// matches the other literally, or both have wildcards and their literal prefixes
// agree (a cautious answer: a warning too many rather than one too few).
func globsMayOverlap(x, y string) bool {
	if x == y {
		return true
	}
	if ok, _ := path.Match(x, y); ok {
		return true
	}
	if ok, _ := path.Match(y, x); ok {
		return true
	}
	px, wx := literalPrefix(x)
	py, wy := literalPrefix(y)
	return wx && wy && (strings.HasPrefix(px, py) || strings.HasPrefix(py, px))
}

func literalPrefix(g string) (string, bool) {
	if i := strings.IndexAny(g, `*?[\`); i >= 0 {
		return g[:i], true
	}
	return g, false
}

// ruleSpace is the set of inputs a rule's condition admits, one dimension at a time.
type ruleSpace struct {
	roles, kinds []bool
	places       []bool // every zone, then every zone type with no zone name
	managed      [2]bool
}

func (p *Policy) space(w *When) ruleSpace {
	roles := append(slices.Clone(Roles), Unknown)
	in := func(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
	out := func(list []string, v string) bool { return !slices.Contains(list, v) }
	var s ruleSpace
	for _, r := range roles {
		s.roles = append(s.roles, in(w.Roles, r) && out(w.NotRoles, r))
	}
	for _, k := range Kinds {
		s.kinds = append(s.kinds, in(w.Kinds, k) && out(w.NotKinds, k))
	}
	place := func(name, typ string) bool {
		if len(w.Zones) > 0 && (name == "" || !slices.Contains(w.Zones, name)) {
			return false
		}
		return out(w.NotZones, name) && in(w.ZoneTypes, typ) && out(w.NotZoneTypes, typ)
	}
	for _, z := range p.zones {
		s.places = append(s.places, place(z.Name, z.Type))
	}
	for _, t := range ZoneTypes {
		s.places = append(s.places, place("", t))
	}
	for i, m := range []bool{false, true} {
		s.managed[i] = w.Managed == nil || *w.Managed == m
	}
	return s
}

func subset(x, y []bool) bool { // every true in x is true in y
	for i := range x {
		if x[i] && !y[i] {
			return false
		}
	}
	return true
}

func empty(x []bool) bool { return !slices.Contains(x, true) }

// unreachableRules reports rules that can never match (a condition no input meets)
// and rules every input of which an earlier rule already takes (its condition is a
// superset, with the same schedule conditions or none).
func unreachableRules(p *Policy) []Warning {
	var out []Warning
	spaces := make([]ruleSpace, len(p.rules))
	for i := range p.rules {
		spaces[i] = p.space(&p.rules[i].When)
	}
	for j := range p.rules {
		rj, sj := &p.rules[j], &spaces[j]
		var never []string
		for _, d := range []struct {
			name string
			set  []bool
		}{{"role", sj.roles}, {"kind", sj.kinds}, {"zone", sj.places}, {"managed", sj.managed[:]}} {
			if empty(d.set) {
				never = append(never, d.name)
			}
		}
		if len(never) > 0 {
			out = append(out, Warning{Pos: rj.Pos, Msg: fmt.Sprintf(
				"rule %q can never match: no %s meets its conditions", rj.Name, strings.Join(never, ", "))})
			continue
		}
		for i := 0; i < j; i++ {
			ri, si := &p.rules[i], &spaces[i]
			if ri.sched >= 0 && ri.sched != rj.sched || ri.notSched >= 0 && ri.notSched != rj.notSched {
				continue
			}
			if ri.When.KindMismatch && !rj.When.KindMismatch || ri.When.Unfiltered && !rj.When.Unfiltered {
				continue
			}
			if subset(sj.roles, si.roles) && subset(sj.kinds, si.kinds) && subset(sj.places, si.places) && subset(sj.managed[:], si.managed[:]) {
				out = append(out, Warning{Pos: rj.Pos, Msg: fmt.Sprintf(
					"rule %q is unreachable: rule %q at line %d:%d matches everything it does and comes first",
					rj.Name, ri.Name, ri.Pos.Line, ri.Pos.Col)})
				break
			}
		}
	}
	return out
}
