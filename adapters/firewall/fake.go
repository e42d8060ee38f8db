package firewall

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// NewFake returns the iptables backend over an in-memory kernel: the real reconcile
// logic, with ipset restore and iptables-restore scripts interpreted as the kernel
// would (atomic batches, references between rules, sets and chains checked). For
// tests of code that drives a Firewall, and for this package's own replay tests.
func NewFake(macSets bool, o Options) *IPTables {
	fs := newFakeSystem(macSets)
	b, err := newBackend(context.Background(), fs, o)
	if err != nil {
		panic(fmt.Sprintf("firewall: NewFake: %v", err)) // only bad Options get here
	}
	return b
}

// fakeSystem is an in-memory kernel.
type fakeSystem struct {
	mu     sync.Mutex
	macOK  bool
	sets   map[string]*ipsetState // all sets, ours and others
	fam    [2]fakeTable
	writes int            // write calls so far
	failAt func(int) bool // injects a failure on write n (a crash half-way through Set)
	// netlink: membership changes may bypass ipset restore (setMembers, the
	// steady-state path); off by default, so every Set reads the fake kernel.
	netlink bool
	reads   int // ipsetSave calls so far
}

type fakeTable struct {
	forward []string
	chains  map[string][]string // user chains, ours and others
	absent  bool                // the table does not exist (iptables-nft before any rule)
}

func newFakeSystem(macOK bool) *fakeSystem {
	f := &fakeSystem{macOK: macOK, sets: map[string]*ipsetState{}}
	for i := range f.fam {
		f.fam[i].chains = map[string][]string{}
	}
	return f
}

func (t fakeTable) clone() fakeTable {
	c := fakeTable{forward: slices.Clone(t.forward), chains: map[string][]string{}, absent: t.absent}
	for k, v := range t.chains {
		c.chains[k] = slices.Clone(v)
	}
	return c
}

func (f *fakeSystem) mode() Mode { return "fake" }

func (f *fakeSystem) hashMAC(context.Context) (bool, error) { return f.macOK, nil }

func (f *fakeSystem) fail() error {
	f.writes++
	if f.failAt != nil && f.failAt(f.writes) {
		return errors.New("fake: injected failure")
	}
	return nil
}

func (f *fakeSystem) ipsetSave(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(f.sets)) {
		s := f.sets[name]
		b.WriteString(strings.TrimSuffix(createLine(name, s), "\n") + " hashsize 1024 maxelem 65536\n")
		for _, m := range sortedKeys(s.members) {
			if s.typ == typeMAC {
				m = strings.ToUpper(m) // as ipset prints them
			}
			fmt.Fprintf(&b, "add %s %s\n", name, m)
		}
	}
	return b.String(), nil
}

// referenced reports whether a rule in any table matches against set.
func (f *fakeSystem) referenced(set string, fam [2]fakeTable) bool {
	needle := "--match-set " + set + " "
	for _, t := range fam {
		for _, rules := range t.chains {
			for _, r := range rules {
				if strings.Contains(r, needle) {
					return true
				}
			}
		}
	}
	return false
}

// ipsetRestore applies a script like `ipset -exist restore`: line by line, stopping at
// the first error (ipset restore is not atomic).
func (f *fakeSystem) ipsetRestore(_ context.Context, script string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(); err != nil {
		return err
	}
	for n, line := range strings.Split(strings.TrimSpace(script), "\n") {
		w := strings.Fields(line)
		if len(w) < 2 {
			return fmt.Errorf("fake ipset: line %d: %q", n+1, line)
		}
		s := f.sets[w[1]]
		if s == nil && w[0] != "create" {
			return fmt.Errorf("fake ipset: line %d: set %s does not exist", n+1, w[1])
		}
		switch w[0] {
		case "create":
			ns := &ipsetState{typ: w[2], members: map[string]bool{}}
			if len(w) >= 5 && w[3] == "family" {
				ns.family = w[4]
			}
			if ns.typ == typeMAC && !f.macOK {
				return fmt.Errorf("fake ipset: line %d: set type not supported", n+1)
			}
			if s != nil && (s.typ != ns.typ || s.family != ns.family) {
				return fmt.Errorf("fake ipset: line %d: set %s exists with another type", n+1, w[1])
			}
			if s == nil {
				f.sets[w[1]] = ns
			}
		case "add", "del":
			m, err := normalizeMember(s.typ, w[2])
			if err != nil {
				return fmt.Errorf("fake ipset: line %d: %w", n+1, err)
			}
			if s.typ == typeIP && strings.Contains(m, ":") != (s.family == "inet6") {
				return fmt.Errorf("fake ipset: line %d: %s is the wrong family for %s", n+1, m, w[1])
			}
			if w[0] == "add" {
				s.members[m] = true
			} else {
				delete(s.members, m)
			}
		case "flush":
			clear(s.members)
		case "destroy":
			if f.referenced(w[1], f.fam) {
				return fmt.Errorf("fake ipset: line %d: set %s is in use by a kernel component", n+1, w[1])
			}
			delete(f.sets, w[1])
		default:
			return fmt.Errorf("fake ipset: line %d: unknown command %q", n+1, w[0])
		}
	}
	return nil
}

func (f *fakeSystem) rules(_ context.Context, fam family) (famRules, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.fam[fam]
	fr := famRules{forward: slices.Clone(t.forward), chains: map[string][]string{}}
	for _, ch := range []string{ChainForward, ChainDrop} {
		if r, ok := t.chains[ch]; ok {
			fr.chains[ch] = slices.Clone(r)
		}
	}
	_, fr.marker = t.chains[ChainMarker]
	return fr, nil
}

func (f *fakeSystem) filterTableExists(_ context.Context, fam family) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.fam[fam].absent, nil
}

// dropEmptyFilterTable: the fake has no policies; a table with no rules and no user
// chains is empty.
func (f *fakeSystem) dropEmptyFilterTable(_ context.Context, fam family) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &f.fam[fam]
	if t.absent || len(t.forward) > 0 || len(t.chains) > 0 {
		return false, nil
	}
	t.absent = true
	return true, nil
}

// iptablesRestore applies an iptables-restore --noflush script atomically: on any
// error nothing changes.
func (f *fakeSystem) iptablesRestore(_ context.Context, fam family, script string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(); err != nil {
		return err
	}
	t := f.fam[fam].clone()
	chainOf := func(rule string) (string, []string) {
		w := strings.Fields(rule)
		return w[1], w[2:]
	}
	check := func(spec []string) error {
		for i := 0; i+1 < len(spec); i++ {
			switch spec[i] {
			case "--match-set":
				if f.sets[spec[i+1]] == nil {
					return fmt.Errorf("set %s does not exist", spec[i+1])
				}
			case "-j", "-g":
				if tg := spec[i+1]; tg != "DROP" && tg != "ACCEPT" && tg != "RETURN" {
					if _, ok := t.chains[tg]; !ok {
						return fmt.Errorf("chain %s does not exist", tg)
					}
				}
			}
		}
		return nil
	}
	lines := strings.Split(strings.TrimSpace(script), "\n")
	if len(lines) < 2 || lines[0] != "*filter" || lines[len(lines)-1] != "COMMIT" {
		return fmt.Errorf("fake iptables-restore: not a filter batch: %q", script)
	}
	for n, line := range lines[1 : len(lines)-1] {
		fail := func(err error) error { return fmt.Errorf("fake iptables-restore: line %d (%s): %w", n+2, line, err) }
		switch {
		case strings.HasPrefix(line, ":"):
			t.chains[strings.Fields(line[1:])[0]] = nil // created or emptied
		case strings.HasPrefix(line, "-X "):
			ch := strings.TrimSpace(line[3:])
			if len(t.chains[ch]) > 0 {
				return fail(errors.New("chain not empty"))
			}
			for _, rules := range append([][]string{t.forward}, slices.Collect(maps.Values(t.chains))...) {
				for _, r := range rules {
					if jumpsTo(r, ch) {
						return fail(errors.New("chain is referenced"))
					}
				}
			}
			delete(t.chains, ch)
		case strings.HasPrefix(line, "-A "), strings.HasPrefix(line, "-I "):
			ch, spec := chainOf(line)
			if strings.HasPrefix(line, "-I ") {
				spec = spec[1:] // position: always 1 here
			}
			if err := check(spec); err != nil {
				return fail(err)
			}
			rule := "-A " + ch + " " + strings.Join(spec, " ")
			switch {
			case ch == "FORWARD" && line[1] == 'I':
				t.forward = append([]string{rule}, t.forward...)
			case ch == "FORWARD":
				t.forward = append(t.forward, rule)
			default:
				rules, ok := t.chains[ch]
				if !ok {
					return fail(errors.New("no such chain"))
				}
				t.chains[ch] = append(rules, rule)
			}
		case strings.HasPrefix(line, "-D "):
			ch, spec := chainOf(line)
			rule := "-A " + ch + " " + strings.Join(spec, " ")
			rules := t.forward
			if ch != "FORWARD" {
				rules = t.chains[ch]
			}
			i := slices.Index(rules, rule)
			if i < 0 {
				return fail(errors.New("no such rule"))
			}
			rules = slices.Delete(rules, i, i+1)
			if ch == "FORWARD" {
				t.forward = rules
			} else {
				t.chains[ch] = rules
			}
		default:
			return fail(errors.New("unknown command"))
		}
	}
	t.absent = false // iptables-restore creates the table
	f.fam[fam] = t
	return nil
}

func jumpsTo(rule, chain string) bool {
	w := strings.Fields(rule)
	for i := 0; i+1 < len(w); i++ {
		if (w[i] == "-j" || w[i] == "-g") && w[i+1] == chain {
			return true
		}
	}
	return false
}
