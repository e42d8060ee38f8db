package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon/config"
)

// withSMTP is minimal plus a schedule and two mail channels the reports can use.
const withSMTP = minimal + `schedules: [{name: pupil-hours, days: weekdays, from: "08:30", to: "15:30"}]
alerting:
  smtp:
    - {name: dsl-email, host: smtp.school.example, security: starttls, from: hm@school.example, to: [dsl@school.example]}
    - {name: relay, host: 127.0.0.1, port: 25, security: none, from: hm@school.example, to: [it@school.example]}
`

func TestReportsSection(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		want  config.Reports
	}{
		{"defaults", "reports: {daily_at: \"16:00\", email_to: [slt@school.example]}\n",
			config.Reports{DailyAt: 16 * 60, EmailTo: []string{"slt@school.example"}, Formats: []string{"pdf"},
				SchoolDaysOnly: true, SMTP: "dsl-email", Schedule: "pupil-hours"}},
		{"everything", `reports:
  daily_at: "07:05"
  email_to: ["Senior Team <slt@school.example>", head@school.example]
  formats: [pdf, html]
  school_days_only: false
  smtp: relay
  schedule: pupil-hours
  termly: {email_to: [governors@school.example], formats: [html, csv]}
`, config.Reports{DailyAt: 7*60 + 5, EmailTo: []string{"slt@school.example", "head@school.example"}, Formats: []string{"pdf", "html"},
			SMTP: "relay", Schedule: "pupil-hours",
			Termly: &config.TermlyMail{EmailTo: []string{"governors@school.example"}, Formats: []string{"html", "csv"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse("r.yaml", []byte(withSMTP+tc.extra))
			if err != nil {
				t.Fatal(err)
			}
			r := c.Reports
			if r == nil {
				t.Fatal("reports not configured")
			}
			if r.DailyAt != tc.want.DailyAt || !slices.Equal(r.EmailTo, tc.want.EmailTo) || !slices.Equal(r.Formats, tc.want.Formats) ||
				r.SchoolDaysOnly != tc.want.SchoolDaysOnly || r.SMTP != tc.want.SMTP || r.Schedule != tc.want.Schedule ||
				(r.Termly == nil) != (tc.want.Termly == nil) {
				t.Errorf("reports = %+v, want %+v", *r, tc.want)
			}
			if tc.want.Termly != nil && (!slices.Equal(r.Termly.EmailTo, tc.want.Termly.EmailTo) || !slices.Equal(r.Termly.Formats, tc.want.Termly.Formats)) {
				t.Errorf("termly = %+v, want %+v", *r.Termly, *tc.want.Termly)
			}
			if got := r.DailyAtString(); len(got) != 5 || got[2] != ':' {
				t.Errorf("DailyAtString = %q, want HH:MM", got)
			}
		})
	}
}

func TestReportsErrorsAtPositions(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		extra string
		want  []string
	}{
		{"bad time, address, format", withSMTP, `reports:
  daily_at: "4pm"
  email_to: [slt@school.example, not an address, slt@school.example]
  formats: [pdf, docx, pdf]
  school_days_only: sometimes
`, []string{
			`r.yaml:11:13: reports daily_at: "4pm": want a 24-hour time HH:MM, e.g. "16:00"`,
			`r.yaml:12:34: reports email_to: "not an address" is not an e-mail address`,
			`r.yaml:12:50: reports email_to: "slt@school.example" is listed twice`,
			`r.yaml:13:18: reports formats: unknown value "docx" (want one of: pdf, html, csv)`,
			`r.yaml:13:24: reports formats: "pdf" is listed twice`,
			`r.yaml:14:21: reports school_days_only: expected true or false, got "sometimes"`,
		}},
		{"time out of range", withSMTP, "reports: {daily_at: \"24:00\", email_to: [a@b.example]}\n",
			[]string{`r.yaml:10:21: reports daily_at: "24:00": want a 24-hour time HH:MM, e.g. "16:00"`}},
		{"required keys and empty lists", withSMTP, "reports:\n  formats: []\n  termly: {formats: [pdf]}\n", []string{
			`r.yaml:11:3: reports: missing required key "daily_at"`,
			`r.yaml:11:3: reports: missing required key "email_to"`,
			`r.yaml:11:12: reports formats: at least one format is required (pdf, html or csv)`,
			`r.yaml:12:11: reports termly: missing required key "email_to"`,
		}},
		{"unknown key with a suggestion", withSMTP, "reports: {daily_at: \"16:00\", email_to: [a@b.example], format: [pdf]}\n",
			[]string{`r.yaml:10:55: reports: unknown key "format" (did you mean "formats"?)`}},
		{"no mail server", minimal + "schedules: [{name: pupil-hours, days: weekdays, from: \"08:30\", to: \"15:30\"}]\n" +
			"reports: {daily_at: \"16:00\", email_to: [a@b.example]}\n", "",
			[]string{`r.yaml:6:10: reports: e-mailing reports needs a mail server: configure one under alerting smtp`}},
		{"unknown channel and schedule", withSMTP, "reports: {daily_at: \"16:00\", email_to: [a@b.example], smtp: teams, schedule: lessons}\n", []string{
			`r.yaml:10:61: reports smtp: no alerting smtp channel is named "teams" (have: dsl-email, relay)`,
			`r.yaml:10:78: reports schedule: no schedule is named "lessons" (the schedule that defines pupil hours)`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("r.yaml", []byte(tc.doc+tc.extra))
			var es config.Errors
			if !errors.As(err, &es) {
				t.Fatalf("err = %v (%T), want config.Errors", err, err)
			}
			if got, want := es.Error(), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("errors:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestSightingsRetention(t *testing.T) {
	tests := []struct {
		name       string
		storage    string
		alerts     time.Duration
		sightings  time.Duration
		wantErrors string
	}{
		{"default 30 days", "", 90 * 24 * time.Hour, 30 * 24 * time.Hour, ""},
		{"set", "storage: {retention: 400d, sightings_retention: 60d}\n", 400 * 24 * time.Hour, 60 * 24 * time.Hour, ""},
		{"default never outlives alerts", "storage: {retention: 14d}\n", 14 * 24 * time.Hour, 14 * 24 * time.Hour, ""},
		{"too short", "storage:\n  sightings_retention: 12h\n", 0, 0, "s.yaml:6:24: storage sightings_retention: must be at least 1d"},
		{"longer than alerts", "storage:\n  retention: 30d\n  sightings_retention: 60d\n", 0, 0,
			"s.yaml:7:24: storage sightings_retention: 60d is longer than retention (30d): zone history is not kept longer than alerts"},
		{"bad duration", "storage: {sightings_retention: a month}\n", 0, 0,
			`s.yaml:5:32: storage sightings_retention: invalid duration "a month" (use e.g. 90s, 10m, 12h, 90d)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse("s.yaml", []byte(minimal+tc.storage))
			if tc.wantErrors != "" {
				if err == nil || err.Error() != tc.wantErrors {
					t.Fatalf("err = %v, want %s", err, tc.wantErrors)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Storage.Retention != tc.alerts || c.Storage.SightingsRetention != tc.sightings {
				t.Errorf("retention %v, sightings %v; want %v, %v", c.Storage.Retention, c.Storage.SightingsRetention, tc.alerts, tc.sightings)
			}
		})
	}
}
