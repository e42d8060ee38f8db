package config

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/hallmonitor/hallmonitor/rules/policy"
	"github.com/hallmonitor/hallmonitor/rules/yamlstrict"
)

// Report formats a report can be e-mailed in (attachments).
var reportFormats = []string{"pdf", "html", "csv"}

// Reports is the `reports:` section: the daily zone-compliance report e-mailed
// to SLT at a set local time, and optionally the termly summary to governors.
// Reports sent by e-mail are always pseudonymised (never --unmask).
type Reports struct {
	DailyAt        int      // minutes after local midnight (school time zone)
	EmailTo        []string // SLT recipients of the daily report
	Formats        []string // attachments, in order: pdf | html | csv (default [pdf])
	SchoolDaysOnly bool     // skip days that are not school days in the calendar (default true)
	SMTP           string   // the alerting.smtp channel whose server and sender are used (default the first)
	Schedule       string   // the schedule that defines pupil hours (default pupil-hours)
	Termly         *TermlyMail
}

// TermlyMail e-mails the termly summary on the last school day of each term, at
// daily_at.
type TermlyMail struct {
	EmailTo []string
	Formats []string // pdf | html | csv (default [pdf])
}

// DailyAtString formats DailyAt as HH:MM.
func (r *Reports) DailyAtString() string {
	return fmt.Sprintf("%02d:%02d", r.DailyAt/60, r.DailyAt%60)
}

// reportsSection decodes `reports:`; the cross-checks against alerting.smtp and
// the policy's schedules are reportsCheck's, once those are decoded.
func reportsSection(d *yamlstrict.Decoder, n *yaml.Node) (*Reports, reportsNodes) {
	r := &Reports{Formats: []string{"pdf"}, SchoolDaysOnly: true, Schedule: "pupil-hours"}
	var at reportsNodes
	at.section = n
	seen := d.Mapping(n, "reports", yamlstrict.Fields{
		"daily_at": func(v *yaml.Node) {
			s, ok := d.Scalar(v, "reports daily_at")
			if !ok {
				return
			}
			m, err := clockTime(s.Value)
			if err != nil {
				d.Errorf(s, "reports daily_at: %v", err)
				return
			}
			r.DailyAt = m
		},
		"email_to": func(v *yaml.Node) { r.EmailTo = addresses(d, v, "reports email_to") },
		"formats":  func(v *yaml.Node) { r.Formats = formats(d, v, "reports formats") },
		"school_days_only": func(v *yaml.Node) {
			if b, ok := d.Bool(v, "reports school_days_only"); ok {
				r.SchoolDaysOnly = b
			}
		},
		"smtp": func(v *yaml.Node) {
			at.smtp = v
			r.SMTP = d.String(v, "reports smtp")
		},
		"schedule": func(v *yaml.Node) {
			at.schedule = v
			r.Schedule = d.String(v, "reports schedule")
		},
		"termly": func(v *yaml.Node) {
			t := &TermlyMail{Formats: []string{"pdf"}}
			tseen := d.Mapping(v, "reports termly", yamlstrict.Fields{
				"email_to": func(x *yaml.Node) { t.EmailTo = addresses(d, x, "reports termly email_to") },
				"formats":  func(x *yaml.Node) { t.Formats = formats(d, x, "reports termly formats") },
			})
			d.Require(v, tseen, "reports termly", "email_to")
			r.Termly = t
		},
	})
	d.Require(n, seen, "reports", "daily_at", "email_to")
	return r, at
}

// reportsNodes are where the keys reportsCheck verifies are.
type reportsNodes struct {
	section, smtp, schedule *yaml.Node
}

// reportsCheck: the mail server is a configured alerting.smtp channel, and the
// schedule exists.
func reportsCheck(d *yamlstrict.Decoder, r *Reports, at reportsNodes, a Alerting, p *policy.Policy) {
	if r == nil {
		return
	}
	var names []string
	for _, c := range a.Channels.SMTP {
		names = append(names, c.Name)
	}
	switch {
	case len(names) == 0:
		d.Errorf(at.section, "reports: e-mailing reports needs a mail server: configure one under alerting smtp")
	case r.SMTP == "":
		r.SMTP = names[0]
	case !slices.Contains(names, r.SMTP):
		d.Errorf(at.smtp, "reports smtp: no alerting smtp channel is named %q (have: %s)", r.SMTP, strings.Join(names, ", "))
	}
	if p == nil || r.Schedule == "" {
		return
	}
	for _, s := range p.Schedules() {
		if s.Name == r.Schedule {
			return
		}
	}
	pos := at.schedule
	if pos == nil {
		pos = at.section
	}
	d.Errorf(pos, "reports schedule: no schedule is named %q (the schedule that defines pupil hours)", r.Schedule)
}

// clockTime parses "HH:MM" (24-hour) into minutes after midnight.
func clockTime(s string) (int, error) {
	bad := fmt.Errorf("%q: want a 24-hour time HH:MM, e.g. \"16:00\"", s)
	if len(s) != 5 || s[2] != ':' {
		return 0, bad
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, bad
		}
	}
	h, m := int(s[0]-'0')*10+int(s[1]-'0'), int(s[3]-'0')*10+int(s[4]-'0')
	if h > 23 || m > 59 {
		return 0, bad
	}
	return h*60 + m, nil
}

func addresses(d *yamlstrict.Decoder, n *yaml.Node, what string) []string {
	var out []string
	d.Seq(n, what, func(it *yaml.Node) {
		s, ok := d.Scalar(it, what)
		if !ok {
			return
		}
		a, err := mail.ParseAddress(s.Value)
		if err != nil {
			d.Errorf(s, "%s: %q is not an e-mail address", what, s.Value)
			return
		}
		if slices.Contains(out, a.Address) {
			d.Errorf(s, "%s: %q is listed twice", what, a.Address)
			return
		}
		out = append(out, a.Address)
	})
	if r := d.Resolve(n); r != nil && (yamlstrict.IsNull(r) || r.Kind == yaml.SequenceNode && len(r.Content) == 0) {
		d.Errorf(r, "%s: at least one address is required", what)
	}
	return out
}

func formats(d *yamlstrict.Decoder, n *yaml.Node, what string) []string {
	var out []string
	d.Seq(n, what, func(it *yaml.Node) {
		f, ok := oneOf(d, it, what, reportFormats...)
		if !ok {
			return
		}
		if slices.Contains(out, f) {
			d.Errorf(it, "%s: %q is listed twice", what, f)
			return
		}
		out = append(out, f)
	})
	if r := d.Resolve(n); r != nil && (yamlstrict.IsNull(r) || r.Kind == yaml.SequenceNode && len(r.Content) == 0) {
		d.Errorf(r, "%s: at least one format is required (pdf, html or csv)", what)
	}
	return out
}
