package config_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon/config"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestBadConfigGolden: a file with many mistakes reports every one of them, each as
// FILE:LINE:COL: message, in file order.
func TestBadConfigGolden(t *testing.T) {
	_, err := config.Load("testdata/bad.yaml")
	var es config.Errors
	if !errors.As(err, &es) {
		t.Fatalf("Load(bad.yaml) error = %v (%T), want config.Errors", err, err)
	}
	got := es.Error() + "\n"
	golden := filepath.Join("testdata", "bad.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("errors differ from %s:\n got:\n%s\nwant:\n%s", golden, got, want)
	}
	// Every line the file marks "# error" is reported, at that line.
	data, err := os.ReadFile("testdata/bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reported := map[int]bool{}
	for _, e := range es {
		if e.File != "testdata/bad.yaml" || e.Line < 1 || e.Col < 1 {
			t.Errorf("bad position in %q", e.Error())
		}
		reported[e.Line] = true
	}
	for i, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, "# error") && !reported[i+1] {
			t.Errorf("line %d is marked as an error but nothing was reported there: %s", i+1, line)
		}
	}
	if len(es) < 6 {
		t.Errorf("only %d errors reported", len(es))
	}
}

// TestShippedConfigsAreValid: the example a site copies and the demo's school both load.
func TestShippedConfigsAreValid(t *testing.T) {
	for _, path := range []string{"../../deploy/examples/hallmonitor.yaml", "../../adapters/simulate/school.yaml"} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			c, err := config.Load(path)
			if err != nil {
				t.Fatalf("%v", err)
			}
			if c.Source != path || c.Policy == nil || c.Policy.Location().String() != "Europe/London" {
				t.Errorf("loaded %+v", c)
			}
			if len(c.Policy.Zones()) == 0 || len(c.Policy.Rules()) == 0 {
				t.Errorf("no zones or rules")
			}
		})
	}
}

func TestDemoConfigValues(t *testing.T) {
	c, err := config.Load("../../adapters/simulate/school.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.School.Name != "Hallmonitor Demo Academy" || c.School.SiteID != "demo-01" {
		t.Errorf("school = %+v", c.School)
	}
	if want := time.Date(2027, 9, 1, 0, 0, 0, 0, c.Policy.Location()); !c.School.PolicyReviewDue.Equal(want) {
		t.Errorf("policy_review_due = %v, want %v", c.School.PolicyReviewDue, want)
	}
	if len(c.Interfaces) != 1 || c.Interfaces[0].Name != "sim0" {
		t.Errorf("interfaces = %+v", c.Interfaces)
	}
	if c.Storage.Retention != 90*24*time.Hour || c.Alerting.Throttle != 10*time.Minute {
		t.Errorf("durations: retention %v throttle %v", c.Storage.Retention, c.Alerting.Throttle)
	}
	if c.Enforcement.Mode != "monitor" || c.Dashboard.Listen != "127.0.0.1:8080" {
		t.Errorf("enforcement %+v dashboard %+v", c.Enforcement, c.Dashboard)
	}
}

const minimal = `school: {name: Test School, site_id: test-01}
interfaces: [{name: eth1}]
zones: [{name: hall, type: pupil-area, vlans: [30]}]
rules: [{name: allow-all, then: {action: allow}}]
`

func TestDefaults(t *testing.T) {
	c, err := config.Parse("min.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		Timezone:  "Europe/London",
		Alerting:  config.Alerting{Throttle: 10 * time.Minute},
		Dashboard: config.Dashboard{Listen: "127.0.0.1:8080", SessionTTL: 12 * time.Hour},
		Storage:   config.Storage{DataDir: "/var/lib/hallmonitor", Retention: 90 * 24 * time.Hour, SightingsRetention: 30 * 24 * time.Hour},
		Logging:   config.Logging{Level: "info", Format: "auto"},
	}
	// Safe by default: monitor only, nothing protected, the 30 % safety valve.
	if e := c.Enforcement; e.Mode != "monitor" || e.Backend != "auto" || len(e.Protect) != 0 || e.MaxBlockShare != 0.3 {
		t.Errorf("enforcement defaults = %+v", e)
	}
	if c.Timezone != want.Timezone || c.Alerting.Throttle != want.Alerting.Throttle || len(c.Alerting.Channels.Names()) != 0 ||
		c.Dashboard != want.Dashboard || c.Storage != want.Storage || c.Logging != want.Logging {
		t.Errorf("defaults = %+v", c)
	}
	if c.Policy.Location().String() != "Europe/London" {
		t.Errorf("location = %v", c.Policy.Location())
	}
	if c.Reports != nil {
		t.Errorf("reports = %+v; without a reports section nothing is e-mailed", c.Reports)
	}
}

func TestSettings(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		check func(*config.Config) bool
	}{
		{"day durations", "storage: {retention: 1d12h}\nalerting: {throttle: 0s}\n",
			func(c *config.Config) bool { return c.Storage.Retention == 36*time.Hour && c.Alerting.Throttle == 0 }},
		{"enforce mode", "enforcement: {mode: enforce}\n", func(c *config.Config) bool { return c.Enforcement.Mode == "enforce" }},
		{"tls pair", "dashboard: {listen: '[::]:8443', tls_cert: /etc/hm/c.pem, tls_key: /etc/hm/k.pem, session_ttl: 8h}\n",
			func(c *config.Config) bool {
				return c.Dashboard.Listen == "[::]:8443" && c.Dashboard.TLSKey == "/etc/hm/k.pem" && c.Dashboard.SessionTTL == 8*time.Hour
			}},
		{"other time zone", "timezone: Europe/Dublin\n", func(c *config.Config) bool { return c.Policy.Location().String() == "Europe/Dublin" }},
		{"json logs", "logging: {level: debug, format: json}\n", func(c *config.Config) bool { return c.Logging == config.Logging{Level: "debug", Format: "json"} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse("x.yaml", []byte(minimal+tc.extra))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("config = %+v", c)
			}
		})
	}
}

func TestErrorsAtPositions(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"empty file", "", "e.yaml:1:1: the configuration is empty"},
		{"not a mapping", "- a\n", "e.yaml:1:1: configuration: expected a mapping of keys, got a list"},
		{"syntax", "school:\n  name: x\n   site_id: y\n", "e.yaml:3:1: YAML syntax error: mapping values are not allowed in this context"},
		{"missing sections", "timezone: Europe/London\n", strings.Join([]string{
			`e.yaml:1:1: configuration: missing required key "school"`,
			`e.yaml:1:1: configuration: missing required key "interfaces"`,
			`e.yaml:1:1: zones: at least one zone is required`,
			`e.yaml:1:1: rules: at least one rule is required`,
		}, "\n")},
		{"retention too short", minimal + "storage:\n  retention: 12h\n", "e.yaml:6:14: storage retention: must be at least 1d"},
		{"relative data dir", minimal + "storage:\n  data_dir: data\n", `e.yaml:6:13: storage data_dir: "data" must be an absolute path`},
		{"local is not a school time zone", minimal + "timezone: Local\n", `e.yaml:5:11: timezone: unknown time zone "Local" (want an IANA name such as Europe/London)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("e.yaml", []byte(tc.doc))
			var es config.Errors
			if !errors.As(err, &es) {
				t.Fatalf("err = %v (%T)", err, err)
			}
			if es.Error() != tc.want {
				t.Errorf("errors:\n%s\nwant:\n%s", es.Error(), tc.want)
			}
		})
	}
}

// A gateway with one sub-interface or bridge per VLAN (eth1.30, br-staff) sees
// untagged frames: each interface says which VLAN it carries.
func TestInterfaceVLANs(t *testing.T) {
	doc := func(ifaces string) []byte {
		return []byte(strings.Replace(minimal, "interfaces: [{name: eth1}]", "interfaces: "+ifaces, 1))
	}
	c, err := config.Parse("x.yaml", doc("[{name: eth1.30, vlan: 30}, {name: br-staff, vlan: 20}, {name: eth2}]"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []config.Interface{{Name: "eth1.30", VLAN: 30}, {Name: "br-staff", VLAN: 20}, {Name: "eth2"}}; !slices.Equal(c.Interfaces, want) {
		t.Errorf("interfaces = %+v, want %+v", c.Interfaces, want)
	}
	for _, tc := range []struct{ ifaces, want string }{
		{"[{name: eth1.30, vlan: 4095}]", `e.yaml:2:36: interface vlan: "4095" is not a VLAN ID (1-4094)`},
		{"[{name: br0, vlan: 30}, {name: br0, vlan: 20}]", `e.yaml:2:44: interface "br0" is listed twice`},
	} {
		_, err := config.Parse("e.yaml", doc(tc.ifaces))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %s", tc.ifaces, err, tc.want)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "nope.yaml"))
	var es config.Errors
	if err == nil || errors.As(err, &es) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v; want a wrapped not-exist error", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/bad.yaml", "../../adapters/simulate/school.yaml"} {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(minimal))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("zones: [{name: x, type: teaching, aps: ['[']}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse("fuzz.yaml", data)
		if err == nil {
			if c == nil || c.Policy == nil {
				t.Fatal("nil config without error")
			}
			return
		}
		var es config.Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("error is not config.Errors: %v", err)
		}
		for _, e := range es {
			if e.Line < 1 || e.Col < 1 || e.Msg == "" {
				t.Fatalf("error without position: %#v", e)
			}
		}
	})
}

// A reload applies the policy; for the other sections it must say which ones
// changed, so an admin who edits the DSL's e-mail address and reloads is told
// to restart instead of believing it applied.
func TestRestartNeeded(t *testing.T) {
	base := minimal + "alerting:\n  throttle: 10m # DSL asked for this\n  webhooks: [{name: dsl, kind: generic, url: \"https://hooks.example.test/dsl\"}]\n  routes: {\"*\": [dsl]}\n"
	tests := []struct {
		name string
		next string
		want []string
	}{
		{"same file", base, nil},
		{"comments and layout only", strings.Replace(base, "  throttle: 10m # DSL asked for this\n", "  throttle: \"10m\"\n", 1), nil},
		{"policy only (a reload applies it)", strings.Replace(base, "name: hall", "name: main-hall", 1), nil},
		{"webhook address", strings.Replace(base, "hooks.example.test/dsl", "hooks.example.test/deputy", 1), []string{"alerting"}},
		{"section added", base + "storage: {retention: 30d}\n", []string{"storage"}},
		{"section removed", minimal, []string{"alerting"}},
		{"two sections, in section order", strings.Replace(base, "site_id: test-01", "site_id: test-02", 1) +
			"enforcement: {mode: enforce, protect: [{vlan: 30, interface: eth1.30}]}\n", []string{"school", "enforcement"}},
		{"interface", strings.Replace(base, "name: eth1", "name: eth2", 1), []string{"interfaces"}},
	}
	old, err := config.Parse("hm.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next, err := config.Parse("hm.yaml", []byte(tc.next))
			if err != nil {
				t.Fatal(err)
			}
			if got := old.RestartNeeded(next); !slices.Equal(got, tc.want) {
				t.Errorf("RestartNeeded = %q, want %q", got, tc.want)
			}
		})
	}
}
