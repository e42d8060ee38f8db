package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hallmonitor/hallmonitor/daemon/config"
	"github.com/hallmonitor/hallmonitor/rules/policy"
	"github.com/hallmonitor/hallmonitor/rules/yamlstrict"
)

func init() {
	register("policy", "policy tools: `policy test FILE...` runs scenario tables against a policy", runPolicy)
}

func runPolicy(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := stdout
		if len(args) == 0 {
			w = stderr
		}
		fmt.Fprintln(w, "Usage: hallmonitor policy test [-v] FILE...")
		fmt.Fprintln(w, "\nRuns scenario tables (YAML: policy: PATH, scenarios: [...]) against the policy each names.")
		fmt.Fprintln(w, "Prints FILE:LINE:COL for every failing scenario, then \"N passed, M failed\"; exit 0 only when all pass.")
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] != "test" {
		fmt.Fprintf(stderr, "hallmonitor policy: unknown subcommand %q (want test)\n", args[0])
		return 2
	}
	return runPolicyTest(args[1:], stdout, stderr)
}

// scenario is one row of a scenario table: a device, a place and an instant, and
// what the policy must decide.
type scenario struct {
	Name    string
	At      time.Time
	Zone    string
	Role    string
	Kind    string
	Managed *bool
	// Unfiltered: the device was seen going around the school's filter (bypass
	// detection: its own DNS resolver, DoH/DoT, a VPN, Private Relay).
	Unfiltered bool
	MAC        string
	Expect     expectation
	Pos        policy.Pos
}

// expectation holds what a scenario checks; a nil field is not checked.
type expectation struct {
	Action, Rule, Exemption, Severity, Mode *string
	Clauses, Notify                         []string // each must be in the decision's
}

// scenarioFile is a parsed scenario table.
type scenarioFile struct {
	Path      string
	Policy    string // path of the policy, resolved against the table's directory
	PolicyPos policy.Pos
	Scenarios []scenario
}

// loadScenarios parses a scenario table; errors are config.Errors at FILE:LINE:COL.
func loadScenarios(path string) (*scenarioFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scenarios: %w", err)
	}
	root, err := yamlstrict.Parse(data)
	if err != nil {
		var ye yamlstrict.Error
		if errors.As(err, &ye) {
			return nil, config.Errors{{File: path, Line: ye.Line, Col: ye.Col, Msg: ye.Msg}}
		}
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	var d yamlstrict.Decoder
	f := &scenarioFile{Path: path}
	names := map[string]int{}
	seen := d.Mapping(root, "scenario file", yamlstrict.Fields{
		"policy": func(v *yaml.Node) {
			if s, ok := d.Scalar(v, "policy"); ok {
				f.Policy = s.Value
				if !filepath.IsAbs(f.Policy) {
					f.Policy = filepath.Join(filepath.Dir(path), f.Policy)
				}
				f.PolicyPos = policy.Pos{Line: s.Line, Col: s.Column}
			}
		},
		"scenarios": func(v *yaml.Node) {
			d.Seq(v, "scenarios", func(it *yaml.Node) {
				sc, ok := decodeScenario(&d, it)
				if !ok {
					return
				}
				if line, dup := names[sc.Name]; dup {
					d.Errorf(it, "scenario %q: name already used at line %d", sc.Name, line)
					return
				}
				names[sc.Name] = sc.Pos.Line
				f.Scenarios = append(f.Scenarios, sc)
			})
		},
	})
	if root == nil {
		d.ErrorAt(1, 1, "scenario file is empty")
	} else {
		d.Require(root, seen, "scenario file", "policy", "scenarios")
	}
	if err := d.Err(); err != nil {
		var out config.Errors
		for _, e := range err.(yamlstrict.Errors) {
			out = append(out, config.Error{File: path, Line: e.Line, Col: e.Col, Msg: e.Msg})
		}
		return nil, out
	}
	return f, nil
}

func decodeScenario(d *yamlstrict.Decoder, it *yaml.Node) (scenario, bool) {
	errs := d.Len()
	sc := scenario{Pos: policy.Pos{Line: it.Line, Col: it.Column}}
	str := func(dst **string, what string) yamlstrict.Field {
		return func(v *yaml.Node) {
			s := d.String(v, what)
			*dst = &s
		}
	}
	seen := d.Mapping(it, "scenario", yamlstrict.Fields{
		"name": func(v *yaml.Node) { sc.Name = strings.TrimSpace(d.String(v, "scenario name")) },
		"at": func(v *yaml.Node) {
			s, ok := d.Scalar(v, "scenario at")
			if !ok {
				return
			}
			t, err := time.Parse(time.RFC3339, s.Value)
			if err != nil {
				d.Errorf(s, "scenario at: %q is not an RFC 3339 time (e.g. 2026-10-13T07:45:00Z or 2026-10-13T08:45:00+01:00)", s.Value)
				return
			}
			sc.At = t
		},
		"zone": func(v *yaml.Node) { sc.Zone = d.String(v, "scenario zone") },
		"role": func(v *yaml.Node) {
			s, ok := d.Scalar(v, "scenario role")
			if !ok {
				return
			}
			if s.Value != policy.Unknown && !policy.IsRole(s.Value) {
				d.Errorf(s, "scenario role: unknown role %q (want one of: %s, unknown)", s.Value, strings.Join(policy.Roles, ", "))
				return
			}
			sc.Role = s.Value
		},
		"kind": func(v *yaml.Node) {
			s, ok := d.Scalar(v, "scenario kind")
			if !ok {
				return
			}
			if !policy.IsKind(s.Value) {
				d.Errorf(s, "scenario kind: unknown kind %q (want one of: %s)", s.Value, strings.Join(policy.Kinds, ", "))
				return
			}
			sc.Kind = s.Value
		},
		"managed": func(v *yaml.Node) {
			if m, ok := d.Bool(v, "scenario managed"); ok {
				sc.Managed = &m
			}
		},
		"unfiltered": func(v *yaml.Node) {
			if u, ok := d.Bool(v, "scenario unfiltered"); ok {
				sc.Unfiltered = u
			}
		},
		"mac": func(v *yaml.Node) {
			s, ok := d.Scalar(v, "scenario mac")
			if !ok {
				return
			}
			m, err := policy.NormalizeMAC(s.Value)
			if err != nil {
				d.Errorf(s, "scenario mac: %v", err)
				return
			}
			sc.MAC = m
		},
		"expect": func(v *yaml.Node) {
			e := &sc.Expect
			got := d.Mapping(v, "scenario expect", yamlstrict.Fields{
				"action":    str(&e.Action, "expect action"),
				"rule":      str(&e.Rule, "expect rule"),
				"exemption": str(&e.Exemption, "expect exemption"),
				"severity":  str(&e.Severity, "expect severity"),
				"mode":      str(&e.Mode, "expect mode"),
				"clauses": func(v *yaml.Node) {
					e.Clauses = d.Strings(v, "expect clauses")
					for i, c := range e.Clauses {
						if !policy.IsClause(c) {
							d.Errorf(d.Resolve(v).Content[i], "expect clauses: %q is not in the clause catalogue", c)
						}
					}
				},
				"notify": func(v *yaml.Node) { e.Notify = d.Strings(v, "expect notify") },
			})
			if len(got) == 0 {
				d.Errorf(v, "scenario expect: give at least one of action, rule, clauses, exemption, severity, mode, notify")
			}
			if e.Action != nil && !slices.Contains(policy.Actions, *e.Action) {
				d.Errorf(got["action"], "expect action: unknown action %q (want allow, alert or block)", *e.Action)
			}
		},
	})
	d.Require(it, seen, "scenario", "name", "at", "zone", "expect")
	return sc, d.Len() == errs
}

// resolveZone reads a zone given as a zone name of p or as a zone type.
func resolveZone(p *policy.Policy, zone string) (name, zoneType string, err error) {
	if t := p.ZoneType(zone); t != policy.Unknown {
		return zone, t, nil
	}
	if policy.IsZoneType(zone) {
		return "", zone, nil
	}
	return "", "", fmt.Errorf("unknown zone %q: not a zone of the policy (%s) nor a zone type (%s)",
		zone, strings.Join(zoneNames(p), ", "), strings.Join(policy.ZoneTypes, ", "))
}

func zoneNames(p *policy.Policy) []string {
	var names []string
	for _, z := range p.Zones() {
		names = append(names, z.Name)
	}
	return names
}

// scenarioInput builds the policy input for a scenario: the register fills in the
// role, kind and managed flag of a registered MAC unless the scenario gives them.
func scenarioInput(p *policy.Policy, sc *scenario) (policy.Input, error) {
	in := policy.Input{MAC: sc.MAC, Role: sc.Role, Kind: sc.Kind, Unfiltered: sc.Unfiltered}
	if in.Role == policy.Unknown {
		in.Role = ""
	}
	zone, typ, err := resolveZone(p, sc.Zone)
	if err != nil {
		return in, err
	}
	in.Zone, in.ZoneType = zone, typ
	if sc.Managed != nil {
		in.Managed = *sc.Managed
	}
	if e, ok := p.Registered(sc.MAC); ok && sc.MAC != "" {
		if sc.Role == "" {
			in.Role = e.Role
		}
		if sc.Kind == "" {
			in.Kind = e.Kind
		}
		if sc.Managed == nil {
			in.Managed = e.Managed
		}
	}
	if in.Kind == "" {
		return in, errors.New("kind is required (or a mac on the register with a kind)")
	}
	return in, nil
}

// check compares a decision with the expectation; it returns what differed.
func (e *expectation) check(d policy.Decision) []string {
	var diffs []string
	field := func(name string, want *string, got string) {
		if want != nil && *want != got {
			diffs = append(diffs, fmt.Sprintf("%s is %q, want %q", name, got, *want))
		}
	}
	field("action", e.Action, d.Action)
	field("rule", e.Rule, d.Rule)
	field("severity", e.Severity, d.Severity)
	field("exemption", e.Exemption, d.Exemption)
	field("mode", e.Mode, d.Mode)
	subset := func(name string, want, got []string) {
		var missing []string
		for _, c := range want {
			if !slices.Contains(got, c) {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			diffs = append(diffs, fmt.Sprintf("%s %v lack %s", name, got, strings.Join(missing, ", ")))
		}
	}
	subset("clauses", e.Clauses, d.Clauses)
	subset("notify", e.Notify, d.Notify)
	return diffs
}

// runPolicyTest runs scenario tables: one line per failing scenario (and per invalid
// file), then "N passed, M failed". Exit 0 only when every scenario passes.
func runPolicyTest(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("policy test", "[-v] FILE...", stdout, stderr)
	verbose := fs.Bool("v", false, "also print every passing scenario")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "hallmonitor policy test: give at least one scenario file")
		return 2
	}
	passed, failed, broken := 0, 0, 0
	policies := map[string]*config.Config{}
	for _, path := range fs.Args() {
		f, err := loadScenarios(path)
		if err != nil {
			printConfigError(stdout, err)
			broken++
			continue
		}
		cfg, ok := policies[f.Policy]
		if !ok {
			cfg, err = config.Load(f.Policy)
			if err != nil {
				fmt.Fprintf(stdout, "%s:%d:%d: policy %s is invalid:\n", path, f.PolicyPos.Line, f.PolicyPos.Col, f.Policy)
				printConfigError(stdout, err)
				broken++
				continue
			}
			policies[f.Policy] = cfg
		}
		p := cfg.Policy
		for i := range f.Scenarios {
			sc := &f.Scenarios[i]
			at := fmt.Sprintf("%s:%d:%d", path, sc.Pos.Line, sc.Pos.Col)
			in, err := scenarioInput(p, sc)
			if err != nil {
				fmt.Fprintf(stdout, "%s: FAIL %s: %v\n", at, sc.Name, err)
				failed++
				continue
			}
			d := p.Evaluate(in, sc.At)
			if diffs := sc.Expect.check(d); len(diffs) > 0 {
				fmt.Fprintf(stdout, "%s: FAIL %s: %s (reason: %s)\n", at, sc.Name, strings.Join(diffs, "; "), d.Reason)
				failed++
				continue
			}
			if *verbose {
				fmt.Fprintf(stdout, "%s: ok %s\n", at, sc.Name)
			}
			passed++
		}
	}
	summary := fmt.Sprintf("%d passed, %d failed", passed, failed)
	if broken > 0 {
		summary += fmt.Sprintf(", %d file%s not run", broken, plural(broken))
	}
	fmt.Fprintln(stdout, summary)
	if failed > 0 || broken > 0 {
		return 1
	}
	return 0
}
