package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	render "github.com/hallmonitor/hallmonitor/adapters/report"
	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/daemon/config"
	"github.com/hallmonitor/hallmonitor/rules/policy"
	"github.com/hallmonitor/hallmonitor/rules/report"
)

func init() {
	register("export", "subject-access export: everything stored about a device (or a register owner's devices) as JSON", runExport)
}

// sarExport is the subject-access document. Its JSON names are a stable contract.
type sarExport struct {
	GeneratedAt time.Time    `json:"generated_at"`
	GeneratedBy string       `json:"generated_by"`
	Site        sarSite      `json:"site"`
	Subject     sarSubject   `json:"subject"`
	Retention   sarRetention `json:"retention"`
	Devices     []sarDevice  `json:"devices"`
	Exemptions  []sarExempt  `json:"exemptions"`
	Notes       []string     `json:"notes"`
}

type sarSite struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type sarSubject struct {
	MAC    string `json:"mac,omitempty"`
	Person string `json:"person,omitempty"`
}

// sarRetention says how long each kind of record is kept.
type sarRetention struct {
	Alerts      string `json:"alerts"`
	ZoneHistory string `json:"zone_history"`
	AuditLog    string `json:"audit_log"`
	Exemptions  string `json:"exemptions"`
	Deliveries  string `json:"deliveries"`
}

type sarDevice struct {
	MAC         string                `json:"mac"`
	Register    *policy.RegisterEntry `json:"register,omitempty"` // the school's own record of the device
	ZoneHistory []daemon.ZoneVisit    `json:"zone_history"`
	Alerts      []sarAlert            `json:"alerts"`
	Block       *sarBlock             `json:"firewall_block,omitempty"`
}

type sarAlert struct {
	daemon.Alert
	Audit      []daemon.AuditEntry `json:"audit"`
	Deliveries []sarDelivery       `json:"deliveries"`
}

// sarDelivery is one notification about an alert, without its payload or error
// text (which can name other devices or staff addresses).
type sarDelivery struct {
	Channel     string     `json:"channel"`
	Kind        string     `json:"kind"`
	State       string     `json:"state"`
	Attempts    int        `json:"attempts"`
	CreatedAt   time.Time  `json:"created_at"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

type sarBlock struct {
	VLAN    uint16   `json:"vlan"`
	IPv4    []string `json:"ipv4,omitempty"`
	IPv6    []string `json:"ipv6,omitempty"`
	Rule    string   `json:"rule"`
	Clauses []string `json:"clauses,omitempty"`
}

type sarExempt struct {
	daemon.Exemption
	Audit []daemon.AuditEntry `json:"audit"`
}

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("export", "--config FILE (--mac MAC | --person NAME) --actor NAME [--out FILE]", stdout, stderr)
	cfgPath := fs.String("config", defaultConfigPath, "configuration file (storage.data_dir, register)")
	macFlag := fs.String("mac", "", "the device's MAC address")
	person := fs.String("person", "", "a register owner: every device the register lists for them, and their exemptions")
	actor := fs.String("actor", "", "who is making the export (required; recorded in the audit log)")
	out := fs.String("out", "", "write the export to this file (mode 0600) instead of standard output")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if (*macFlag == "") == (*person == "") {
		fmt.Fprintln(stderr, "export: give --mac or --person (one of them)")
		return 2
	}
	if strings.TrimSpace(*actor) == "" {
		fmt.Fprintln(stderr, "export: --actor is required: the export is recorded in the audit log with who made it")
		return 2
	}
	var mac string
	if *macFlag != "" {
		m, err := policy.NormalizeMAC(*macFlag)
		if err != nil {
			fmt.Fprintf(stderr, "export: --mac: %v\n", err)
			return 2
		}
		mac = m
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		printConfigErrors(stderr, err)
		return 1
	}
	st, err := openExistingStore(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "export: %v\n", err)
		return 1
	}
	defer st.Close()
	doc, err := buildExport(ctx, st, cfg, mac, strings.TrimSpace(*person), strings.TrimSpace(*actor), time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "export: %v\n", err)
		return 1
	}
	body, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		fmt.Fprintf(stderr, "export: %v\n", err)
		return 1
	}
	body = append(body, '\n')
	// Audited before anything is disclosed: no export without its record.
	if err := auditExport(ctx, st, cfg, doc, body, *out); err != nil {
		fmt.Fprintf(stderr, "export: not exported: %v\n", err)
		return 1
	}
	if *out == "" {
		if _, err := stdout.Write(body); err != nil {
			fmt.Fprintf(stderr, "export: %v\n", err)
			return 1
		}
	} else if err := writePrivate(*out, body); err != nil {
		fmt.Fprintf(stderr, "export: %v\n", err)
		return 1
	}
	if len(doc.Devices) == 0 && len(doc.Exemptions) == 0 {
		fmt.Fprintln(stderr, "export: nothing is stored about this subject (check the MAC or name)")
	}
	return 0
}

// buildExport gathers everything stored about mac, or about the devices the
// register lists for person (and exemptions granted to them by name).
func buildExport(ctx context.Context, st *store.Store, cfg *config.Config, mac, person, actor string, now time.Time) (sarExport, error) {
	doc := sarExport{
		GeneratedAt: now.UTC(),
		GeneratedBy: actor,
		Site:        sarSite{ID: cfg.School.SiteID, Name: cfg.School.Name},
		Subject:     sarSubject{MAC: mac, Person: person},
		Retention: sarRetention{
			Alerts:      fmt.Sprintf("%s after the episode closed (storage.retention)", durationDays(cfg.Storage.Retention)),
			ZoneHistory: fmt.Sprintf("%s after the stay ended (storage.sightings_retention)", durationDays(cfg.Storage.SightingsRetention)),
			AuditLog:    "kept without limit: the audit log is append-only",
			Exemptions:  "kept without limit: exemptions are safeguarding records",
			Deliveries:  "deleted with their alert",
		},
		Devices:    []sarDevice{},
		Exemptions: []sarExempt{},
		Notes: []string{
			"Device names in reports are pseudonyms of the MAC address; no pupil names are stored.",
			"Staff user names appear where staff acted on a record (acknowledged, resolved, granted).",
		},
	}
	macs := []string{}
	registered := map[string]policy.RegisterEntry{}
	for _, e := range cfg.Policy.RegisterEntries() {
		registered[e.MAC] = e
		if person != "" && strings.EqualFold(strings.TrimSpace(e.Owner), person) && !slices.Contains(macs, e.MAC) {
			macs = append(macs, e.MAC)
		}
	}
	if mac != "" {
		macs = append(macs, mac)
	}
	var persons []string
	if person != "" {
		persons = []string{person}
	} else if e, ok := registered[mac]; ok && e.Owner != "" {
		persons = []string{e.Owner} // exemptions granted to the device's owner by name
	}
	for _, m := range macs {
		d, err := exportDevice(ctx, st, m)
		if err != nil {
			return sarExport{}, err
		}
		if e, ok := registered[m]; ok {
			e.Pos = policy.Pos{}
			d.Register = &e
		}
		doc.Devices = append(doc.Devices, d)
	}
	ex, err := st.ExemptionsFor(ctx, mac, persons)
	if err != nil {
		return sarExport{}, err
	}
	for _, m := range macs { // a person's devices' own exemptions
		if m == mac {
			continue
		}
		more, err := st.ExemptionsFor(ctx, m, nil)
		if err != nil {
			return sarExport{}, err
		}
		for _, e := range more {
			if !slices.ContainsFunc(ex, func(x daemon.Exemption) bool { return x.ID == e.ID }) {
				ex = append(ex, e)
			}
		}
	}
	for _, e := range ex {
		audit, err := st.AuditFor(ctx, []string{e.ID})
		if err != nil {
			return sarExport{}, err
		}
		doc.Exemptions = append(doc.Exemptions, sarExempt{Exemption: e, Audit: nonNilAudit(audit)})
	}
	return doc, nil
}

func exportDevice(ctx context.Context, st *store.Store, mac string) (sarDevice, error) {
	d := sarDevice{MAC: mac, ZoneHistory: []daemon.ZoneVisit{}, Alerts: []sarAlert{}}
	visits, err := st.ZoneVisits(ctx, mac, time.Unix(0, 0), time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return d, err
	}
	if visits != nil {
		d.ZoneHistory = visits
	}
	alerts, err := st.DeviceAlerts(ctx, mac)
	if err != nil {
		return d, err
	}
	for _, a := range alerts {
		audit, err := st.AuditFor(ctx, []string{a.ID})
		if err != nil {
			return d, err
		}
		items, err := st.Deliveries(ctx, a.ID)
		if err != nil {
			return d, err
		}
		sa := sarAlert{Alert: a, Audit: nonNilAudit(audit), Deliveries: []sarDelivery{}}
		for _, it := range items {
			sa.Deliveries = append(sa.Deliveries, sarDelivery{Channel: it.Channel, Kind: it.Kind, State: it.State,
				Attempts: it.Attempts, CreatedAt: it.CreatedAt, DeliveredAt: it.DeliveredAt})
		}
		d.Alerts = append(d.Alerts, sa)
	}
	b, err := st.DeviceBlock(ctx, mac)
	if err != nil {
		return d, err
	}
	if b != nil {
		sb := &sarBlock{VLAN: b.VLAN, Rule: b.Rule, Clauses: b.Clauses}
		for _, a := range b.IPv4 {
			sb.IPv4 = append(sb.IPv4, a.String())
		}
		for _, a := range b.IPv6 {
			sb.IPv6 = append(sb.IPv6, a.String())
		}
		d.Block = sb
	}
	return d, nil
}

// auditExport appends "sar.export": actor the --actor, target the subject by
// pseudonym (the never-purged audit log must not keep the MAC or name itself;
// the DSL can match it with the report key), After: what was exported and the
// SHA-256 of the document.
func auditExport(ctx context.Context, st *store.Store, cfg *config.Config, doc sarExport, body []byte, out string) error {
	secret, err := render.LoadOrCreateSecret(cfg.Storage.DataDir)
	if err != nil {
		return err
	}
	p := report.Pseudonymiser(secret)
	target := ""
	if doc.Subject.MAC != "" {
		target = p(doc.Subject.MAC)
	} else {
		target = "person " + strings.TrimPrefix(p("person:"+strings.ToLower(doc.Subject.Person)), report.PseudonymPrefix)
	}
	alerts, visits := 0, 0
	for _, d := range doc.Devices {
		alerts += len(d.Alerts)
		visits += len(d.ZoneHistory)
	}
	sum := sha256.Sum256(body)
	dest := out
	if dest == "" {
		dest = "standard output"
	}
	after, err := json.Marshal(map[string]any{"devices": len(doc.Devices), "alerts": alerts, "zone_visits": visits,
		"exemptions": len(doc.Exemptions), "to": dest, "sha256": hex.EncodeToString(sum[:])})
	if err != nil {
		return err
	}
	return st.AppendAudit(ctx, daemon.AuditEntry{At: doc.GeneratedAt, Actor: doc.GeneratedBy, Action: "sar.export",
		Target: target, After: string(after)})
}

func writePrivate(path string, body []byte) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write the export: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write the export: %w", cerr)
		}
	}()
	_, err = f.Write(body)
	return err
}

func nonNilAudit(es []daemon.AuditEntry) []daemon.AuditEntry {
	if es == nil {
		return []daemon.AuditEntry{}
	}
	return es
}

// durationDays prints whole days as "90d".
func durationDays(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
