package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hallmonitor/hallmonitor/rules/yamlstrict"
)

// modeDefaults are what a mode cites, who it covers and whom it tells when the
// configuration does not say.
var modeDefaults = map[string]struct {
	clauses []string
	roles   []string
	notify  []string
}{
	ModeExam:      {clauses: []string{"OSS-5"}, notify: []string{"dsl", "exams-officer"}},
	ModeLockdown:  {clauses: []string{"SPT-3"}, roles: []string{"staff-direct", "staff-office", "slt", "key-personnel"}},
	ModeEmergency: {clauses: []string{"SPT-4"}, roles: []string{"staff-direct", "staff-office", "slt", "governor", "visitor", "contractor", "volunteer", "key-personnel", "external-agency"}},
}

func (b *builder) zoneNameList(v *yaml.Node, what string) []string {
	var out []string
	b.d.Seq(v, what, func(z *yaml.Node) {
		s, ok := b.d.Scalar(z, what)
		if !ok {
			return
		}
		if _, known := b.p.zoneType[s.Value]; !known {
			b.d.Errorf(s, "%s: no zone is named %q", what, s.Value)
			return
		}
		out = append(out, s.Value)
	})
	return out
}

func (b *builder) modes(n *yaml.Node) {
	firstLine := map[string]int{}
	roles := append(slices.Clone(Roles), Unknown)
	b.d.Seq(n, "modes", func(it *yaml.Node) {
		errs := b.d.Len()
		m := Mode{Pos: pos(it)}
		var nameNode, untilNode, notifyNode *yaml.Node
		var fromOK, untilOK bool
		seen := b.d.Mapping(it, "mode", yamlstrict.Fields{
			"name":        func(v *yaml.Node) { nameNode = v; m.Name = b.name(v, "mode name") },
			"kind":        func(v *yaml.Node) { m.Kind = b.oneOf(v, "mode kind", ModeKinds) },
			"zones":       func(v *yaml.Node) { m.Zones = b.zoneNameList(v, "mode zones") },
			"zone_types":  func(v *yaml.Node) { m.ZoneTypes = b.listOf(v, "mode zone_types", ZoneTypes) },
			"roles":       func(v *yaml.Node) { m.Roles = b.listOf(v, "mode roles", roles) },
			"from":        func(v *yaml.Node) { m.From, fromOK = b.instant(v, "mode from", false) },
			"until":       func(v *yaml.Node) { untilNode = v; m.Until, untilOK = b.instant(v, "mode until", true) },
			"reason":      func(v *yaml.Node) { m.Reason = strings.TrimSpace(b.d.String(v, "mode reason")) },
			"declared_by": func(v *yaml.Node) { m.DeclaredBy = strings.TrimSpace(b.d.String(v, "mode declared_by")) },
			"clauses":     func(v *yaml.Node) { m.Clauses = b.clauses(v, "mode clauses") },
			"notify":      func(v *yaml.Node) { notifyNode = v; m.Notify = b.listOf(v, "mode notify", Recipients) },
		})
		b.d.Require(it, seen, "mode", "name", "kind", "from", "until", "reason", "declared_by")
		if r := b.d.Resolve(it); r == nil || r.Kind != yaml.MappingNode {
			return
		}
		if _, ok := seen["reason"]; ok && m.Reason == "" {
			b.d.Errorf(seen["reason"], "mode %q: reason must say why it was declared", m.Name)
		}
		if _, ok := seen["declared_by"]; ok && m.DeclaredBy == "" {
			b.d.Errorf(seen["declared_by"], "mode %q: declared_by must name who declared it", m.Name)
		}
		if m.Kind == ModeExam && len(m.Zones)+len(m.ZoneTypes) == 0 && b.d.Len() == errs {
			b.d.Errorf(it, "mode %q: an exam mode needs the zones or zone_types the exam is in", m.Name)
		}
		if notifyNode != nil && m.Kind != ModeExam {
			b.d.Errorf(notifyNode, "mode %q: notify is for exam modes; a %s mode allows, and an allow tells nobody", m.Name, m.Kind)
		}
		if fromOK && untilOK && !m.Until.After(m.From) {
			b.d.Errorf(untilNode, "mode %q: until must be after from", m.Name)
		}
		if m.Name != "" {
			if line, dup := firstLine[m.Name]; dup {
				b.d.Errorf(nameNode, "mode name %q is already used at line %d", m.Name, line)
			} else if line, dup := b.ruleLine[m.Name]; dup || m.Name == "default" {
				b.d.Errorf(nameNode, "mode name %q is already a rule name (line %d): decisions name one or the other", m.Name, line)
			}
			firstLine[m.Name] = nameNode.Line
		}
		if b.d.Len() != errs || m.Kind == "" {
			return
		}
		def := modeDefaults[m.Kind]
		if m.Clauses == nil {
			m.Clauses = def.clauses
		}
		if m.Roles == nil {
			m.Roles = def.roles
		}
		if m.Kind == ModeExam && m.Notify == nil {
			m.Notify = def.notify
		}
		b.p.modes = append(b.p.modes, m)
		b.p.modeDec = append(b.p.modeDec, modeDecision(&m, b.p.loc))
	})
}

// modeDecision is the decision a mode makes where it applies.
func modeDecision(m *Mode, loc *time.Location) Decision {
	until := m.Until.In(loc).Format("2 January 2006 15:04")
	head := fmt.Sprintf("%s mode %s (%s; declared by %s; until %s)", titleCase(m.Kind), m.Name, m.Reason, m.DeclaredBy, until)
	switch m.Kind {
	case ModeExam:
		return Decision{
			Action: ActionAlert, Severity: "critical", Rule: m.Name, Clauses: m.Clauses, Mode: m.Name, Notify: m.Notify,
			Reason: reason(head, "personal device in the exam; possession is reported to the exam board", m.Clauses),
		}
	case ModeLockdown:
		return Decision{
			Action: ActionAllow, Severity: "info", Rule: m.Name, Clauses: m.Clauses, Mode: m.Name,
			Reason: reason(head, "staff keep their devices during a lockdown, as safety overrides the device rules", m.Clauses),
		}
	default:
		return Decision{
			Action: ActionAllow, Severity: "info", Rule: m.Name, Clauses: m.Clauses, Mode: m.Name,
			Reason: reason(head, "adults may use devices to call for help; record the use with the incident", m.Clauses),
		}
	}
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
