package simulate_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/adapters/capture"
	"github.com/hallmonitor/hallmonitor/adapters/simulate"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
)

// maxDNSNames is the daemon's bound on remembered query names per device
// (daemon/engine.go).
const maxDNSNames = 32

// accSignals accumulates one device's signals the way the daemon's engine does:
// the latest client DHCP message, distinct DNS names (most recent last, at most
// maxDNSNames), the latest non-zero TTL, and the DHCP option 12 host name.
type accSignals struct {
	fingerprint.Signals
}

func (a *accSignals) apply(o daemon.Observation) {
	if o.TTL != 0 {
		a.TTL = o.TTL
	}
	switch o.Kind {
	case daemon.ObsDHCP:
		if o.DHCP != nil && isClientMessage(o.DHCP.MessageType) {
			a.DHCP = o.DHCP
			if h := o.DHCP.Hostname; h != "" {
				a.Hostname = h
			}
		}
	case daemon.ObsDNS:
		if o.DNSName != "" && !slices.Contains(a.DNSNames, o.DNSName) {
			a.DNSNames = append(a.DNSNames, o.DNSName)
			if len(a.DNSNames) > maxDNSNames {
				a.DNSNames = a.DNSNames[len(a.DNSNames)-maxDNSNames:]
			}
		}
	}
	if o.Hostname != "" && a.Hostname == "" {
		a.Hostname = o.Hostname
	}
}

// isClientMessage mirrors the daemon: DISCOVER, REQUEST, DECLINE, RELEASE, INFORM.
func isClientMessage(t uint8) bool {
	switch t {
	case 1, 3, 4, 7, 8:
		return true
	}
	return false
}

// TestClassifierAccuracyOnSchoolDay decodes the whole simulated day with the
// capture decoder, classifies every device from what the gateway saw, and
// compares with the ground truth: no device may get a wrong kind ("unknown" is
// allowed, a wrong answer is not), and at least 90 % of phones must be phones.
func TestClassifierAccuracyOnSchoolDay(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes a whole school day")
	}
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatalf("load Europe/London: %v", err)
	}
	day, err := simulate.SchoolDay(time.Date(2026, 11, 23, 7, 40, 0, 0, loc))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(day.Year(), day.Month(), day.Day(), 7, 40, 0, 0, loc)
	school, err := simulate.New(simulate.Options{Seed: 1, Day: day, Clock: daemon.NewScaledClock(start, 1)})
	if err != nil {
		t.Fatalf("simulate.New: %v", err)
	}

	dec := capture.NewDecoder()
	seen := map[string]*accSignals{}
	emit := func(o daemon.Observation) {
		if o.MAC == "" {
			return
		}
		a := seen[o.MAC]
		if a == nil {
			a = &accSignals{Signals: fingerprint.Signals{MAC: o.MAC}}
			seen[o.MAC] = a
		}
		a.apply(o)
	}
	frames := 0
	for f, err := range school.Frames() {
		if err != nil {
			t.Fatalf("frame %d: %v", frames, err)
		}
		if err := dec.Decode(f.Data, f.At, "sim0", emit); err != nil {
			t.Fatalf("decode frame %d at %s: %v", frames, f.At.Format(time.TimeOnly), err)
		}
		frames++
	}

	// confusion[truth][got] counts devices.
	confusion := map[string]map[string]int{}
	gotKinds := map[string]bool{}
	var wrong []string
	total, correct, phones, phonesRight := 0, 0, 0, 0
	for _, d := range school.Devices() {
		a := seen[d.MAC]
		if a == nil {
			t.Errorf("device %s (%s %s) never seen on the wire", d.MAC, d.Vendor, d.Model)
			continue
		}
		p := fingerprint.Classify(a.Signals)
		total++
		if confusion[d.Kind] == nil {
			confusion[d.Kind] = map[string]int{}
		}
		confusion[d.Kind][p.Kind]++
		gotKinds[p.Kind] = true
		switch {
		case p.Kind == d.Kind:
			correct++
		case p.Kind != "unknown":
			wrong = append(wrong, fmt.Sprintf("%s %s %s (host %q): got kind=%s os=%s, truth kind=%s os=%s; evidence %+v",
				d.MAC, d.Vendor, d.Model, d.Hostname, p.Kind, p.OS, d.Kind, d.OS, p.Evidence))
		}
		if d.Kind == "phone" {
			phones++
			if p.Kind == "phone" {
				phonesRight++
			} else {
				t.Logf("phone left %s: %s %s %s (host %q), names %v", p.Kind, d.MAC, d.Vendor, d.Model, d.Hostname, a.DNSNames)
			}
		}
	}

	truths := make([]string, 0, len(confusion))
	for k := range confusion {
		truths = append(truths, k)
	}
	sort.Strings(truths)
	cols := make([]string, 0, len(gotKinds))
	for k := range gotKinds {
		cols = append(cols, k)
	}
	sort.Strings(cols)
	var b strings.Builder
	fmt.Fprintf(&b, "%d frames, %d devices; rows truth, columns classified\n%-16s", frames, total, "")
	for _, c := range cols {
		fmt.Fprintf(&b, " %15s", c)
	}
	for _, r := range truths {
		fmt.Fprintf(&b, "\n%-16s", r)
		for _, c := range cols {
			fmt.Fprintf(&b, " %15d", confusion[r][c])
		}
	}
	t.Log(b.String())
	t.Logf("overall accuracy %d/%d = %.1f %%; phones classified as phone %d/%d = %.1f %%; wrong kinds %d",
		correct, total, pct(correct, total), phonesRight, phones, pct(phonesRight, phones), len(wrong))

	for _, w := range wrong {
		t.Errorf("wrong kind: %s", w)
	}
	if phones == 0 || pct(phonesRight, phones) < 90 {
		t.Errorf("phones classified as phone: %d/%d (%.1f %%), want at least 90 %%", phonesRight, phones, pct(phonesRight, phones))
	}
}

func pct(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return 100 * float64(n) / float64(d)
}
