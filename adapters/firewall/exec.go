package firewall

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/coreos/go-iptables/iptables"
)

// runner runs one program (found in binDir, or on $PATH) with stdin, bounded by a
// timeout, and returns stdout; a failure carries stderr.
type runner struct {
	binDir  string
	timeout time.Duration
}

func (r runner) path(name string) string {
	if r.binDir != "" {
		return filepath.Join(r.binDir, name)
	}
	return name
}

func (r runner) run(ctx context.Context, stdin string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.path(name), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// Detect reports which iptables flavour the host uses (on $PATH). It reads only.
func Detect(ctx context.Context) (Mode, error) {
	return detect(ctx, runner{timeout: 30 * time.Second})
}

var versionRE = regexp.MustCompile(`\((legacy|nf_tables)\)`)

// detect: `iptables -V` gives the default; when the other flavour holds more rules
// (a host whose firewall was loaded with the other binary), that one is in use, and
// writing with the default would split the firewall in two.
func detect(ctx context.Context, r runner) (Mode, error) {
	v, err := r.run(ctx, "", "iptables", "-V")
	if err != nil {
		return "", fmt.Errorf("firewall: detect iptables mode: %w", err)
	}
	m := versionRE.FindStringSubmatch(v)
	def := ModeLegacy // iptables before 1.8 has no suffix and is legacy
	if m != nil && m[1] == "nf_tables" {
		def = ModeNFT
	}
	count := func(mode Mode) int {
		out, err := r.run(ctx, "", binary(mode, v4, "save"))
		if err != nil {
			return -1 // that flavour is not installed
		}
		return strings.Count(out, "\n-A ")
	}
	legacy, nft := count(ModeLegacy), count(ModeNFT)
	switch {
	case def == ModeNFT && legacy > nft:
		return ModeLegacy, nil
	case def == ModeLegacy && nft > legacy:
		return ModeNFT, nil
	}
	return def, nil
}

// binary names the program for a mode, family and role ("" for the main program,
// "restore", "save"), e.g. ip6tables-nft-restore.
func binary(m Mode, f family, role string) string {
	flavour := "legacy"
	if m == ModeNFT {
		flavour = "nft"
	}
	name := f.String() + "-" + flavour
	if role != "" {
		name += "-" + role
	}
	return name
}

// execSystem reaches the kernel through programs: go-iptables reads the chains,
// iptables-restore --noflush writes them, ipset restore writes the sets.
type execSystem struct {
	r     runner
	m     Mode
	ipt   [2]*iptables.IPTables
	netns string // Options.NetNS
}

func newExecSystem(ctx context.Context, o Options) (*execSystem, error) {
	r := runner{binDir: o.BinDir, timeout: o.Timeout}
	if r.timeout <= 0 {
		r.timeout = 30 * time.Second
	}
	m := o.Mode
	if m == "" {
		var err error
		if m, err = detect(ctx, r); err != nil {
			return nil, err
		}
	}
	if m != ModeLegacy && m != ModeNFT {
		return nil, fmt.Errorf("firewall: unknown iptables mode %q", m)
	}
	s := &execSystem{r: r, m: m, netns: o.NetNS}
	fams := []family{v4, v6}
	if o.DisableIPv6 {
		fams = fams[:1]
	}
	for _, f := range fams {
		proto := iptables.ProtocolIPv4
		if f == v6 {
			proto = iptables.ProtocolIPv6
		}
		ipt, err := iptables.New(iptables.IPFamily(proto), iptables.Path(r.path(binary(m, f, ""))), iptables.Timeout(int(r.timeout/time.Second)))
		if err != nil {
			return nil, fmt.Errorf("firewall: %s (%s): %w", f, m, err)
		}
		s.ipt[f] = ipt
	}
	return s, nil
}

func (s *execSystem) mode() Mode { return s.m }

func (s *execSystem) hashMAC(ctx context.Context) (bool, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return false, fmt.Errorf("random probe name: %w", err)
	}
	name := "hm-probe-" + hex.EncodeToString(b)
	if _, err := s.r.run(ctx, "", "ipset", "create", name, typeMAC); err != nil {
		if strings.Contains(err.Error(), "not supported") {
			return false, nil
		}
		return false, err
	}
	if _, err := s.r.run(ctx, "", "ipset", "destroy", name); err != nil {
		return true, fmt.Errorf("remove probe set: %w", err)
	}
	return true, nil
}

func (s *execSystem) ipsetSave(ctx context.Context) (string, error) {
	return s.r.run(ctx, "", "ipset", "save")
}

func (s *execSystem) ipsetRestore(ctx context.Context, script string) error {
	_, err := s.r.run(ctx, script, "ipset", "-exist", "restore")
	return err
}

func (s *execSystem) rules(_ context.Context, f family) (famRules, error) {
	ipt := s.ipt[f]
	fr := famRules{chains: map[string][]string{}}
	fwd, err := ipt.List("filter", "FORWARD")
	if err != nil {
		return fr, fmt.Errorf("list FORWARD: %w", err)
	}
	fr.forward = parseRules(fwd)
	chains, err := ipt.ListChains("filter")
	if err != nil {
		return fr, fmt.Errorf("list chains: %w", err)
	}
	for _, ch := range chains {
		if ch == ChainMarker {
			fr.marker = true
		}
		if ch != ChainForward && ch != ChainDrop {
			continue
		}
		lines, err := ipt.List("filter", ch)
		var e *iptables.Error
		if errors.As(err, &e) && e.IsNotExist() {
			continue // removed meanwhile
		}
		if err != nil {
			return fr, fmt.Errorf("list %s: %w", ch, err)
		}
		fr.chains[ch] = parseRules(lines)
	}
	return fr, nil
}

func (s *execSystem) iptablesRestore(ctx context.Context, f family, script string) error {
	_, err := s.r.run(ctx, script, binary(s.m, f, "restore"), "--noflush", "--wait")
	return err
}
