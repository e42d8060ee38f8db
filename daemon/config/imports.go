package config

import (
	"errors"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
	"github.com/hallmonitor/hallmonitor/rules/policy"
	"github.com/hallmonitor/hallmonitor/rules/register"
	"github.com/hallmonitor/hallmonitor/rules/yamlstrict"
)

// Location tunes how a device's zone is resolved.
type Location struct {
	Dwell   time.Duration // how long a device must stay in a new zone before it counts
	APFresh time.Duration // how long an AP association places a device without a new event
}

// Default location settings.
const (
	DefaultDwell   = 60 * time.Second
	DefaultAPFresh = 15 * time.Minute
)

// fingerprints reads `fingerprints: {external: [satori.xml, ...]}`: external
// fingerprint databases (satori format) the user obtained; their matches join the
// evidence with their source named. The files are read, never copied.
func fingerprints(d *yamlstrict.Decoder, n *yaml.Node, read policy.ReadFile) *fingerprint.Engine {
	var ext []*fingerprint.External
	d.Mapping(n, "fingerprints", yamlstrict.Fields{
		"external": func(v *yaml.Node) {
			d.Seq(v, "fingerprints external", func(item *yaml.Node) {
				s, ok := d.Scalar(item, "fingerprints external file")
				if !ok {
					return
				}
				if read == nil {
					d.Errorf(s, "fingerprints external: files cannot be read here")
					return
				}
				data, err := read(s.Value)
				if err != nil {
					d.Errorf(s, "fingerprints external: %v", err)
					return
				}
				e, err := fingerprint.ParseSatori(data, s.Value)
				if err != nil {
					d.Errorf(s, "fingerprints external: %v", err)
					return
				}
				ext = append(ext, e)
			})
		},
	})
	return fingerprint.NewEngine(ext...)
}

// registerImport reads `register_import: [intune.csv, jamf.csv, ...]`: school
// register exports (Intune, Jamf, Google Admin: detected by their columns). A bad
// row is a warning naming FILE:LINE; the good rows are imported.
func registerImport(d *yamlstrict.Decoder, n *yaml.Node, read policy.ReadFile) (entries []policy.RegisterEntry, warnings []policy.Warning) {
	d.Seq(n, "register_import", func(item *yaml.Node) {
		s, ok := d.Scalar(item, "register_import file")
		if !ok {
			return
		}
		if read == nil {
			d.Errorf(s, "register_import: files cannot be read here")
			return
		}
		data, err := read(s.Value)
		if err != nil {
			d.Errorf(s, "register_import: %v", err)
			return
		}
		got, format, err := register.ParseCSV(s.Value, data)
		if format == register.FormatUnknown {
			d.Errorf(s, "register_import: %s: not an Intune, Jamf or Google Admin export (columns not recognised)", s.Value)
			return
		}
		pos := policy.Pos{Line: s.Line, Col: s.Column}
		if err != nil {
			for _, line := range strings.Split(joinedMessages(err), "\n") {
				warnings = append(warnings, policy.Warning{Pos: pos, Msg: "register_import: " + line})
			}
		}
		if len(got) == 0 {
			d.Errorf(s, "register_import: %s has no usable rows", s.Value)
			return
		}
		entries = append(entries, got...)
	})
	return entries, warnings
}

func joinedMessages(err error) string {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		var parts []string
		for _, e := range j.Unwrap() {
			parts = append(parts, e.Error())
		}
		return strings.Join(parts, "\n")
	}
	return err.Error()
}

func location(d *yamlstrict.Decoder, n *yaml.Node, l *Location) {
	d.Mapping(n, "location", yamlstrict.Fields{
		"dwell": func(v *yaml.Node) {
			if t, ok := d.Duration(v, "location dwell"); ok {
				if t < 0 || t > time.Hour {
					d.Errorf(v, "location dwell: want 0s to 1h")
					return
				}
				l.Dwell = t
			}
		},
		"ap_fresh": func(v *yaml.Node) {
			if t, ok := d.Duration(v, "location ap_fresh"); ok {
				if t < time.Minute {
					d.Errorf(v, "location ap_fresh: want at least 1m")
					return
				}
				l.APFresh = t
			}
		},
	})
}

// Imported is the number of register entries that came from register_import files.
func (c *Config) Imported() int { return c.imported }
