// Package config loads and validates HallMonitor's configuration file: one YAML
// document holding the site, the policy (zones, roles, register, schedules, calendar,
// rules, default, exemptions) and the daemon's settings.
//
// Validation is strict and complete: unknown keys are errors, and every problem in
// the file is reported at once, each as FILE:LINE:COL: message.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Europe/London must load even on hosts without a zoneinfo database

	"gopkg.in/yaml.v3"

	"github.com/hallmonitor/hallmonitor/rules/calendar"
	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
	"github.com/hallmonitor/hallmonitor/rules/policy"
	"github.com/hallmonitor/hallmonitor/rules/yamlstrict"
)

// Defaults.
const (
	DefaultTimezone   = "Europe/London"
	DefaultMode       = ModeMonitor
	DefaultThrottle   = 10 * time.Minute
	DefaultListen     = "127.0.0.1:8080"
	DefaultSessionTTL = 12 * time.Hour
	DefaultDataDir    = "/var/lib/hallmonitor"
	DefaultRetention  = 90 * 24 * time.Hour
	DefaultLogLevel   = "info"
	DefaultLogFormat  = "auto"
)

// DefaultSightingsRetention bounds zone history (where each device was, when):
// finer-grained personal data than alerts, kept for less time.
const DefaultSightingsRetention = 30 * 24 * time.Hour

// DefaultMaxBlockShare is the safety valve: never block more than this share of
// a VLAN's devices in one change.
const DefaultMaxBlockShare = 0.3

// Enforcement modes.
const (
	ModeMonitor = "monitor" // alert only; the firewall is never changed
	ModeEnforce = "enforce" // block decisions become firewall rules
)

// Config is a loaded, valid configuration.
type Config struct {
	School      School
	Timezone    string
	Interfaces  []Interface
	Policy      *policy.Policy
	Enforcement Enforcement
	Alerting    Alerting
	Dashboard   Dashboard
	Storage     Storage
	Logging     Logging
	Location    Location
	Feeds       Feeds
	Bypass      Bypass
	DNSGuard    *DNSGuard // nil when not configured
	Reports     *Reports  // nil when reports are not e-mailed
	// Fingerprints classifies with the built-in signatures plus any external
	// databases named in fingerprints.external.
	Fingerprints *fingerprint.Engine
	Source       string // the file name it was read from

	imported       int              // register entries from register_import
	importWarnings []policy.Warning // bad rows in register_import files

	reviewPos policy.Pos // where school.policy_review_due (or review_by) is

	// restartOnly holds, per section a reload does not apply, its YAML as
	// written (re-encoded), so a reload can say which of them changed.
	restartOnly map[string]string
}

// RestartOnlySections are the top-level sections a reload (SIGHUP) does not
// apply: the running daemon keeps the values it started with. A reload applies
// the policy (zones, roles, rules, register, register_import, calendar).
var RestartOnlySections = []string{"school", "timezone", "interfaces", "enforcement", "alerting",
	"dashboard", "storage", "logging", "location", "feeds", "bypass", "dnsguard", "fingerprints", "reports"}

// RestartNeeded names the sections of next, among RestartOnlySections, that
// differ from c (added, removed or edited), in that order: what a reload from
// c to next leaves to the next restart. Files a section names (password_file,
// fingerprints.external) are compared by name, not content.
func (c *Config) RestartNeeded(next *Config) []string {
	var changed []string
	for _, k := range RestartOnlySections {
		if c.restartOnly[k] != next.restartOnly[k] {
			changed = append(changed, k)
		}
	}
	return changed
}

// School identifies the site.
type School struct {
	Name            string
	SiteID          string
	PolicyReviewDue time.Time // midnight local time; zero when not set
}

// Interface is a network interface the daemon captures on.
type Interface struct {
	Name string
	// VLAN is the VLAN the interface carries untagged (a sub-interface such as
	// eth1.30, whose tags the kernel removes, or a per-VLAN bridge): frames
	// without an 802.1Q tag on it count as this VLAN. 0: a trunk, or no VLANs.
	VLAN uint16
}

// Enforcement says whether block decisions reach the firewall.
type Enforcement struct {
	Mode            string // ModeMonitor or ModeEnforce
	Backend         string // auto | iptables | nftables
	Protect         []Protected
	ManagementVLANs []uint16
	NeverBlock      []string // allowlisted MACs, normalised
	MaxBlockShare   float64  // refuse to block more than this share of a VLAN's devices at once
	BlockPage       *BlockPage
}

// BlockPage is the page blocked devices' web requests reach (OSS-3 notice).
type BlockPage struct {
	Listen  []string // "10.30.0.1:80"
	Contact string   // who to ask, e.g. "the school office"
}

// Protected is a VLAN (and the gateway interface that carries it) where block
// decisions are enforced: the pupil VLANs.
type Protected struct {
	VLAN      uint16
	Interface string
}

// Alerting tunes alert delivery.
type Alerting struct {
	Throttle      time.Duration // minimum gap between notifications about one device
	DashboardURL  string        // links in notifications
	EscalateAfter time.Duration // unacknowledged this long → the escalation route (0: never)
	Channels      Channels
	Routes        map[string][]string // severity (or "*") → channel names; nil: every channel
	Escalation    map[string][]string // severity (or "*") → channels for unacknowledged alerts
}

// Dashboard configures the web dashboard.
type Dashboard struct {
	Listen     string
	TLSCert    string
	TLSKey     string
	SessionTTL time.Duration
}

// Storage configures the database.
type Storage struct {
	DataDir   string
	Retention time.Duration // alerts (the audit log and exemptions are never purged)
	// SightingsRetention bounds zone history; never longer than Retention.
	SightingsRetention time.Duration
}

// Logging configures the daemon's logs.
type Logging struct {
	Level  string // debug | info | warn | error
	Format string // auto | console | json
}

// Error is one problem in a configuration file.
type Error struct {
	File string
	Line int
	Col  int
	Msg  string
}

// Error prints FILE:LINE:COL: message.
func (e Error) Error() string { return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg) }

// Errors is every problem found in a configuration file, in position order.
type Errors []Error

// Error prints one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Load reads and validates the configuration file at path. An invalid file yields
// an Errors (one per problem); an unreadable one a wrapped I/O error. Files the
// configuration names (calendar.ics) are read relative to its directory.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return ParseWithFiles(path, data, DirReader(filepath.Dir(path)))
}

// DirReader reads the files a configuration names: a relative name is taken
// relative to dir (the configuration file's directory), an absolute one as is.
func DirReader(dir string) policy.ReadFile {
	return func(name string) ([]byte, error) {
		if name == "" {
			return nil, errors.New("empty file name")
		}
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		const maxSize = 8 << 20 // a school year's calendar is a few kilobytes
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		if !st.Mode().IsRegular() || st.Size() > maxSize {
			return nil, fmt.Errorf("read %s: not a regular file of at most %d bytes", p, maxSize)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		return data, nil
	}
}

// Parse validates data as a configuration file called name (used in error
// positions and as Config.Source). Files it names are read relative to the
// directory of name.
func Parse(name string, data []byte) (*Config, error) {
	return ParseWithFiles(name, data, DirReader(filepath.Dir(name)))
}

// ParseWithFiles is Parse with the reader for the files the configuration names;
// nil refuses them.
func ParseWithFiles(name string, data []byte, read policy.ReadFile) (*Config, error) {
	root, err := yamlstrict.Parse(data)
	if err != nil {
		var ye yamlstrict.Error
		if errors.As(err, &ye) {
			return nil, Errors{{File: name, Line: ye.Line, Col: ye.Col, Msg: ye.Msg}}
		}
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	var d yamlstrict.Decoder
	c := &Config{
		Source:      name,
		Timezone:    DefaultTimezone,
		Enforcement: Enforcement{Mode: DefaultMode, Backend: "auto", MaxBlockShare: DefaultMaxBlockShare},
		Alerting:    Alerting{Throttle: DefaultThrottle},
		Dashboard:   Dashboard{Listen: DefaultListen, SessionTTL: DefaultSessionTTL},
		Storage:     Storage{DataDir: DefaultDataDir, Retention: DefaultRetention, SightingsRetention: DefaultSightingsRetention},
		Logging:     Logging{Level: DefaultLogLevel, Format: DefaultLogFormat},
		Location:    Location{Dwell: DefaultDwell, APFresh: DefaultAPFresh},
	}
	if yamlstrict.IsNull(root) {
		d.ErrorAt(1, 1, "the configuration is empty")
		return nil, withFile(name, d.Errors())
	}
	secs := policy.Sections{}
	var schoolNode, tzNode, importNode *yaml.Node
	var reportsAt reportsNodes
	fields := yamlstrict.Fields{
		"school":          func(v *yaml.Node) { schoolNode = v },
		"timezone":        func(v *yaml.Node) { tzNode = v },
		"interfaces":      func(v *yaml.Node) { c.Interfaces = interfaces(&d, v) },
		"enforcement":     func(v *yaml.Node) { enforcement(&d, v, &c.Enforcement) },
		"alerting":        func(v *yaml.Node) { alertingFull(&d, v, &c.Alerting, read) },
		"dashboard":       func(v *yaml.Node) { dashboard(&d, v, &c.Dashboard) },
		"storage":         func(v *yaml.Node) { storage(&d, v, &c.Storage) },
		"logging":         func(v *yaml.Node) { logging(&d, v, &c.Logging) },
		"location":        func(v *yaml.Node) { location(&d, v, &c.Location) },
		"feeds":           func(v *yaml.Node) { feeds(&d, v, &c.Feeds, read) },
		"bypass":          func(v *yaml.Node) { bypass(&d, v, &c.Bypass) },
		"dnsguard":        func(v *yaml.Node) { c.DNSGuard = &DNSGuard{}; dnsGuard(&d, v, c.DNSGuard) },
		"fingerprints":    func(v *yaml.Node) { c.Fingerprints = fingerprints(&d, v, read) },
		"register_import": func(v *yaml.Node) { importNode = v },
		"reports":         func(v *yaml.Node) { c.Reports, reportsAt = reportsSection(&d, v) },
	}
	for _, k := range policy.SectionKeys {
		fields[k] = func(v *yaml.Node) { secs[k] = v }
	}
	seen := d.Mapping(root, "configuration", fields)
	if root.Kind != yaml.MappingNode {
		return nil, withFile(name, d.Errors())
	}
	c.restartOnly = restartOnlyText(root)
	d.Require(root, seen, "configuration", "school", "interfaces")

	loc := time.UTC
	if tzNode != nil {
		if s, ok := d.Scalar(tzNode, "timezone"); ok {
			l, err := loadLocation(s.Value)
			if err != nil {
				d.Errorf(s, "timezone: unknown time zone %q (want an IANA name such as Europe/London)", s.Value)
			} else {
				c.Timezone, loc = s.Value, l
			}
		}
	} else {
		loc, _ = loadLocation(DefaultTimezone)
	}
	if schoolNode != nil {
		c.reviewPos = school(&d, schoolNode, &c.School, loc)
	}
	c.Policy = policy.DecodeWithFiles(&d, secs, loc, read)
	reportsCheck(&d, c.Reports, reportsAt, c.Alerting, c.Policy)
	var imported []policy.RegisterEntry
	if importNode != nil {
		imported, c.importWarnings = registerImport(&d, importNode, read)
	}
	if err := d.Err(); err != nil {
		return nil, withFile(name, err.(yamlstrict.Errors))
	}
	if len(imported) > 0 {
		// Entries listed in the configuration win over imported ones for the same MAC.
		merged, err := c.Policy.WithRegister(imported)
		if err == nil {
			merged, err = merged.WithRegister(c.Policy.RegisterEntries())
		}
		if err != nil {
			line, col := importNode.Line, importNode.Column
			return nil, Errors{{File: name, Line: line, Col: col, Msg: "register_import: " + err.Error()}}
		}
		c.Policy, c.imported = merged, len(imported)
	}
	if c.Fingerprints == nil {
		c.Fingerprints = fingerprint.NewEngine()
	}
	return c, nil
}

func loadLocation(name string) (*time.Location, error) {
	if name == "" || strings.EqualFold(name, "local") {
		return nil, errors.New("the time zone must be named")
	}
	return time.LoadLocation(name)
}

func withFile(name string, es yamlstrict.Errors) Errors {
	out := make(Errors, len(es))
	for i, e := range es {
		out[i] = Error{File: name, Line: e.Line, Col: e.Col, Msg: e.Msg}
	}
	return out
}

var siteIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

func school(d *yamlstrict.Decoder, n *yaml.Node, s *School, loc *time.Location) (reviewPos policy.Pos) {
	review := func(key string) yamlstrict.Field {
		return func(v *yaml.Node) {
			sv, ok := d.Scalar(v, "school "+key)
			if !ok {
				return
			}
			dt, err := calendar.ParseDate(sv.Value)
			if err != nil {
				d.Errorf(sv, "school %s: %v", key, err)
				return
			}
			s.PolicyReviewDue = dt.At(0, 0, loc)
			reviewPos = policy.Pos{Line: sv.Line, Col: sv.Column}
		}
	}
	seen := d.Mapping(n, "school", yamlstrict.Fields{
		"name": func(v *yaml.Node) {
			s.Name = strings.TrimSpace(d.String(v, "school name"))
			if s.Name == "" && !yamlstrict.IsNull(d.Resolve(v)) {
				d.Errorf(v, "school name: must not be empty")
			}
		},
		"site_id": func(v *yaml.Node) {
			sv, ok := d.Scalar(v, "school site_id")
			if !ok {
				return
			}
			if !siteIDRE.MatchString(sv.Value) {
				d.Errorf(sv, "school site_id: %q must be lower-case letters, digits, '-' or '_' (up to 64), e.g. demo-01", sv.Value)
				return
			}
			s.SiteID = sv.Value
		},
		"policy_review_due": review("policy_review_due"),
		"review_by":         review("review_by"), // the same, by its newer name
	})
	d.Require(n, seen, "school", "name", "site_id")
	if a, b := seen["policy_review_due"], seen["review_by"]; a != nil && b != nil {
		d.Errorf(b, "school: give policy_review_due or review_by, not both (policy_review_due is at line %d)", a.Line)
	}
	return reviewPos
}

// Warnings are what is valid but needs attention, each as FILE:LINE:COL: the
// policy's warnings (overlapping zones, unreachable rules, ignored calendar events)
// and, when now is past it, the policy review date (SPT-14, OSS-7).
func (c *Config) Warnings(now time.Time) []Error {
	var out []Error
	for _, w := range append(c.Policy.Warnings(), c.importWarnings...) {
		out = append(out, Error{File: c.Source, Line: w.Pos.Line, Col: w.Pos.Col, Msg: w.Msg})
	}
	if c.ReviewOverdue(now) {
		out = append(out, Error{File: c.Source, Line: c.reviewPos.Line, Col: c.reviewPos.Col, Msg: fmt.Sprintf(
			"policy review was due %s (OSS-7/SPT-14): review the device policy and update school.policy_review_due",
			c.School.PolicyReviewDue.Format(time.DateOnly))})
	}
	return out
}

// ReviewOverdue reports whether the school's policy review date has passed at now.
func (c *Config) ReviewOverdue(now time.Time) bool {
	return !c.School.PolicyReviewDue.IsZero() && !now.Before(c.School.PolicyReviewDue)
}

var ifnameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,14}$`)

// vlanID reads a VLAN ID (1-4094).
func vlanID(d *yamlstrict.Decoder, n *yaml.Node, what string) (uint16, bool) {
	s, ok := d.Scalar(n, what)
	if !ok {
		return 0, false
	}
	var id int
	if _, err := fmt.Sscanf(s.Value, "%d", &id); err != nil || id < 1 || id > 4094 || fmt.Sprint(id) != s.Value {
		d.Errorf(s, "%s: %q is not a VLAN ID (1-4094)", what, s.Value)
		return 0, false
	}
	return uint16(id), true
}

func interfaces(d *yamlstrict.Decoder, n *yaml.Node) []Interface {
	var out []Interface
	d.Seq(n, "interfaces", func(it *yaml.Node) {
		var ifc Interface
		var nameNode *yaml.Node
		seen := d.Mapping(it, "interface", yamlstrict.Fields{
			"name": func(v *yaml.Node) {
				nameNode = v
				s, ok := d.Scalar(v, "interface name")
				if !ok {
					return
				}
				if !ifnameRE.MatchString(s.Value) {
					d.Errorf(s, "interface name: %q is not a valid interface name (up to 15 characters, no '/' or spaces)", s.Value)
					return
				}
				ifc.Name = s.Value
			},
			"vlan": func(v *yaml.Node) {
				if id, ok := vlanID(d, v, "interface vlan"); ok {
					ifc.VLAN = id
				}
			},
		})
		d.Require(it, seen, "interface", "name")
		if ifc.Name == "" {
			return
		}
		if slices.ContainsFunc(out, func(o Interface) bool { return o.Name == ifc.Name }) {
			d.Errorf(nameNode, "interface %q is listed twice", ifc.Name)
			return
		}
		out = append(out, ifc)
	})
	if r := d.Resolve(n); r != nil && (yamlstrict.IsNull(r) || r.Kind == yaml.SequenceNode && len(r.Content) == 0) {
		d.Errorf(r, "interfaces: at least one interface is required")
	}
	return out
}

func oneOf(d *yamlstrict.Decoder, n *yaml.Node, what string, allowed ...string) (string, bool) {
	s, ok := d.Scalar(n, what)
	if !ok {
		return "", false
	}
	if !slices.Contains(allowed, s.Value) {
		d.Errorf(s, "%s: unknown value %q (want one of: %s)", what, s.Value, strings.Join(allowed, ", "))
		return "", false
	}
	return s.Value, true
}

func enforcement(d *yamlstrict.Decoder, n *yaml.Node, e *Enforcement) {
	d.Mapping(n, "enforcement", yamlstrict.Fields{
		"mode": func(v *yaml.Node) {
			if m, ok := oneOf(d, v, "enforcement mode", ModeMonitor, ModeEnforce); ok {
				e.Mode = m
			}
		},
		"backend": func(v *yaml.Node) {
			if b, ok := oneOf(d, v, "enforcement backend", "auto", "iptables", "nftables"); ok {
				e.Backend = b
			}
		},
		"protect": func(v *yaml.Node) {
			d.Seq(v, "enforcement protect", func(item *yaml.Node) {
				var p Protected
				seen := d.Mapping(item, "protected VLAN", yamlstrict.Fields{
					"vlan": func(x *yaml.Node) {
						if id, ok := vlanID(d, x, "protected vlan"); ok {
							p.VLAN = id
						}
					},
					"interface": func(x *yaml.Node) {
						if s, ok := d.Scalar(x, "protected interface"); ok {
							if !ifnameRE.MatchString(s.Value) {
								d.Errorf(s, "protected interface: %q is not an interface name", s.Value)
								return
							}
							p.Interface = s.Value
						}
					},
				})
				d.Require(item, seen, "protected VLAN", "vlan", "interface")
				e.Protect = append(e.Protect, p)
			})
		},
		"management_vlans": func(v *yaml.Node) {
			d.Seq(v, "enforcement management_vlans", func(item *yaml.Node) {
				if s, ok := d.Scalar(item, "management vlan"); ok {
					var n int
					if _, err := fmt.Sscanf(s.Value, "%d", &n); err != nil || n < 1 || n > 4094 {
						d.Errorf(s, "management vlan: %q is not a VLAN ID (1-4094)", s.Value)
						return
					}
					e.ManagementVLANs = append(e.ManagementVLANs, uint16(n))
				}
			})
		},
		"never_block": func(v *yaml.Node) {
			d.Seq(v, "enforcement never_block", func(item *yaml.Node) {
				if s, ok := d.Scalar(item, "never_block MAC"); ok {
					m, err := policy.NormalizeMAC(s.Value)
					if err != nil {
						d.Errorf(s, "never_block: %v", err)
						return
					}
					e.NeverBlock = append(e.NeverBlock, m)
				}
			})
		},
		"block_page": func(v *yaml.Node) {
			e.BlockPage = &BlockPage{}
			seen := d.Mapping(v, "block_page", yamlstrict.Fields{
				"listen":  func(x *yaml.Node) { e.BlockPage.Listen = hostPorts(d, x, "block_page listen") },
				"contact": func(x *yaml.Node) { e.BlockPage.Contact = d.String(x, "block_page contact") },
			})
			d.Require(v, seen, "block_page", "listen")
		},
		"max_block_share": func(v *yaml.Node) {
			if s, ok := d.Scalar(v, "max_block_share"); ok {
				var f float64
				if _, err := fmt.Sscanf(s.Value, "%g", &f); err != nil || f <= 0 || f > 1 {
					d.Errorf(s, "max_block_share: %q: want a share between 0 and 1, e.g. 0.3", s.Value)
					return
				}
				e.MaxBlockShare = f
			}
		},
	})
	for _, p := range e.Protect {
		if slices.Contains(e.ManagementVLANs, p.VLAN) {
			d.Errorf(n, "enforcement: VLAN %d is both protected and a management VLAN: the management network is never blocked", p.VLAN)
		}
	}
}

func dashboard(d *yamlstrict.Decoder, n *yaml.Node, db *Dashboard) {
	var certNode, keyNode *yaml.Node
	d.Mapping(n, "dashboard", yamlstrict.Fields{
		"listen": func(v *yaml.Node) {
			s, ok := d.Scalar(v, "dashboard listen")
			if !ok {
				return
			}
			if err := checkListen(s.Value); err != nil {
				d.Errorf(s, "dashboard listen: %v", err)
				return
			}
			db.Listen = s.Value
		},
		"tls_cert": func(v *yaml.Node) { certNode = v; db.TLSCert = path(d, v, "dashboard tls_cert") },
		"tls_key":  func(v *yaml.Node) { keyNode = v; db.TLSKey = path(d, v, "dashboard tls_key") },
		"session_ttl": func(v *yaml.Node) {
			if t, ok := d.Duration(v, "dashboard session_ttl"); ok {
				if t < time.Minute {
					d.Errorf(v, "dashboard session_ttl: must be at least 1m")
					return
				}
				db.SessionTTL = t
			}
		},
	})
	if (certNode == nil) != (keyNode == nil) {
		at := certNode
		if at == nil {
			at = keyNode
		}
		d.Errorf(at, "dashboard: tls_cert and tls_key must be given together")
	}
}

func checkListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:8080)", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%q: port must be 1-65535", s)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q: invalid host", s)
	}
	return nil
}

func path(d *yamlstrict.Decoder, n *yaml.Node, what string) string {
	s, ok := d.Scalar(n, what)
	if !ok {
		return ""
	}
	if !filepath.IsAbs(s.Value) {
		d.Errorf(s, "%s: %q must be an absolute path", what, s.Value)
		return ""
	}
	return filepath.Clean(s.Value)
}

func storage(d *yamlstrict.Decoder, n *yaml.Node, s *Storage) {
	var sightingsNode *yaml.Node
	d.Mapping(n, "storage", yamlstrict.Fields{
		"data_dir": func(v *yaml.Node) {
			if p := path(d, v, "storage data_dir"); p != "" {
				s.DataDir = p
			}
		},
		"retention": func(v *yaml.Node) {
			if t, ok := d.Duration(v, "storage retention"); ok {
				if t < 24*time.Hour {
					d.Errorf(v, "storage retention: must be at least 1d")
					return
				}
				s.Retention = t
			}
		},
		"sightings_retention": func(v *yaml.Node) {
			if t, ok := d.Duration(v, "storage sightings_retention"); ok {
				if t < 24*time.Hour {
					d.Errorf(v, "storage sightings_retention: must be at least 1d")
					return
				}
				sightingsNode, s.SightingsRetention = v, t
			}
		},
	})
	switch {
	case sightingsNode == nil:
		// The default never outlives the alerts' retention.
		s.SightingsRetention = min(DefaultSightingsRetention, s.Retention)
	case s.SightingsRetention > s.Retention:
		d.Errorf(sightingsNode, "storage sightings_retention: %s is longer than retention (%s): zone history is not kept longer than alerts",
			sightingsNode.Value, days(s.Retention))
	}
}

// days prints a duration in days when it is whole days ("90d"), else as Go does.
func days(t time.Duration) string {
	if t%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", t/(24*time.Hour))
	}
	return t.String()
}

func logging(d *yamlstrict.Decoder, n *yaml.Node, l *Logging) {
	d.Mapping(n, "logging", yamlstrict.Fields{
		"level": func(v *yaml.Node) {
			if s, ok := oneOf(d, v, "logging level", "debug", "info", "warn", "error"); ok {
				l.Level = s
			}
		},
		"format": func(v *yaml.Node) {
			if s, ok := oneOf(d, v, "logging format", "auto", "console", "json"); ok {
				l.Format = s
			}
		},
	})
}

// restartOnlyText re-encodes each restart-only section of the root mapping, so
// comments, layout and key quoting do not count as changes.
func restartOnlyText(root *yaml.Node) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i].Value
		if !slices.Contains(RestartOnlySections, k) {
			continue
		}
		b, err := yaml.Marshal(stripComments(root.Content[i+1]))
		if err != nil {
			b = []byte(fmt.Sprintf("unencodable section at line %d", root.Content[i+1].Line)) // counts as changed when it moves
		}
		m[k] = string(b)
	}
	return m
}

// stripComments returns a copy of n without comments or styles (flow or
// block, quoted or plain: the values are what count).
func stripComments(n *yaml.Node) *yaml.Node {
	c := *n
	c.HeadComment, c.LineComment, c.FootComment = "", "", ""
	c.Style = 0
	if len(n.Content) > 0 {
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, k := range n.Content {
			c.Content[i] = stripComments(k)
		}
	}
	return &c
}
