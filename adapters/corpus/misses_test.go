package corpus

import (
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
)

var listMisses = flag.Bool("misses", false, "TestListMisses: log every device the built-in classifier does not get right, with its signals and evidence")

// TestListMisses (with -misses -v) lists, for names kept and names stripped,
// every corpus device classified "unknown" or wrongly, with what the gateway
// saw and the evidence the classifier weighed: the starting point for any
// new signature (which must still cite its source).
func TestListMisses(t *testing.T) {
	if !*listMisses {
		t.Skip("run with -misses -v")
	}
	devs := loadCorpus(t)
	for _, strip := range []bool{false, true} {
		var b strings.Builder
		fmt.Fprintf(&b, "\n=== names stripped: %v\n", strip)
		for _, d := range devs {
			s := d.Signals
			if strip {
				s = StripNames(s)
			}
			p := fingerprint.Classify(s)
			if p.Kind == d.Kind {
				continue
			}
			fmt.Fprintf(&b, "- %s [%s] truth %s/%s, got %s/%s\n  mac %s ttl %d host %q dns %v\n", d.Name, d.Origin, d.Kind, d.OS, p.Kind, p.OS, s.MAC, s.TTL, s.Hostname, s.DNSNames)
			if x := s.DHCP; x != nil {
				fmt.Fprintf(&b, "  dhcp type %d options %v prl %v vc %q host %q\n", x.MessageType, x.Options, x.ParamList, x.VendorClass, x.Hostname)
			}
			for _, e := range p.Evidence {
				fmt.Fprintf(&b, "    %s %q -> %s %.2f\n", e.Signal, e.Value, e.Suggests, e.Weight)
			}
		}
		t.Log(b.String())
	}
}
