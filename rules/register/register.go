// Package register reads the school's device register from the CSV exports of
// its management systems (Microsoft Intune, Jamf Pro, Google Admin) into
// policy.RegisterEntry values, and says when what a device looks like on the
// network contradicts what the register says it is (identity mismatch, SPT-10).
//
// Pure logic: no I/O, no clock. Callers read the file and pass its bytes.
package register

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
	"github.com/hallmonitor/hallmonitor/rules/policy"
)

// Format is the management system a CSV export came from.
type Format string

// Formats ParseCSV recognises by their header row.
const (
	FormatUnknown Format = ""
	// FormatIntune: Microsoft Intune admin center, Devices > All devices >
	// Export (2023-2025 column set): "Device name", "Serial number", "Wi-Fi MAC"
	// (12 hex digits, no separators), "EthernetMAC", "OS", "Model",
	// "Primary user UPN", "Primary user email address".
	FormatIntune Format = "intune"
	// FormatJamf: Jamf Pro 10.x/11.x advanced computer or mobile device search,
	// exported as CSV: "Computer Name"/"Display Name"/"Mobile Device Name",
	// "Serial Number", "Wi-Fi MAC Address", "MAC Address" (computers' primary),
	// "Asset Tag", "Full Name", "Username", "Model".
	FormatJamf Format = "jamf"
	// FormatGoogle: Google Admin ChromeOS devices, with the Admin SDK Directory
	// API field names as column headers (the console's "Download" with API
	// field names, and GAM "print cros"): "serialNumber", "macAddress",
	// "ethernetMacAddress", "annotatedAssetId", "annotatedUser", "model".
	FormatGoogle Format = "google-admin"
)

// columns is one format's header names (lower case), in order of preference.
type columns struct {
	format   Format
	require  [][]string // each inner list: one of these must be present
	macs     []string   // every present one gives the device a MAC
	owner    []string
	asset    []string // asset tag, falling back to the serial number
	name     []string // device name, for error messages
	kindCols []string // model / OS columns the kind is inferred from, in order
}

var formats = []columns{
	{format: FormatIntune,
		require:  [][]string{{"device name"}, {"wi-fi mac"}},
		macs:     []string{"wi-fi mac", "ethernetmac"},
		owner:    []string{"primary user upn", "primary user email address", "primary user display name"},
		asset:    []string{"serial number"},
		name:     []string{"device name"},
		kindCols: []string{"model", "os"}},
	{format: FormatJamf,
		require:  [][]string{{"wi-fi mac address", "mac address"}, {"serial number"}},
		macs:     []string{"wi-fi mac address", "mac address", "alternate mac address"},
		owner:    []string{"username", "email address", "full name"},
		asset:    []string{"asset tag", "serial number"},
		name:     []string{"computer name", "display name", "mobile device name", "device name"},
		kindCols: []string{"model", "model identifier", "operating system", "os version"}},
	{format: FormatGoogle,
		require:  [][]string{{"macaddress", "ethernetmacaddress"}, {"serialnumber"}},
		macs:     []string{"macaddress", "ethernetmacaddress"},
		owner:    []string{"annotateduser"},
		asset:    []string{"annotatedassetid", "serialnumber"},
		name:     []string{"annotatedassetid", "serialnumber"},
		kindCols: []string{"model"}},
}

// ParseCSV reads one register export. name is the file name used in errors.
// The format is detected from the header row (see the Format constants).
// Every entry is Managed; Role comes from a "Role" column when the export has
// one (schools add it, or rename a custom attribute), else empty; Kind is
// inferred from the model/OS columns (see KindFromModel); MACs are
// normalised to lower-case colon form. A device with both a Wi-Fi and an
// Ethernet MAC gives one entry per MAC.
//
// Bad rows (an invalid MAC, no MAC at all, a MAC already listed) are skipped
// and reported as "NAME:LINE: ..." in the returned error (errors.Join); the
// good rows are still returned. A file whose header matches no format returns
// FormatUnknown, no entries and an error.
func ParseCSV(name string, data []byte) ([]policy.RegisterEntry, Format, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // Excel and Intune write a UTF-8 BOM
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, FormatUnknown, fmt.Errorf("%s: empty file", name)
		}
		return nil, FormatUnknown, fmt.Errorf("%s: %w", name, err)
	}
	idx := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if _, dup := idx[h]; !dup {
			idx[h] = i
		}
	}
	var f *columns
	for i := range formats {
		if hasAll(idx, formats[i].require) {
			f = &formats[i]
			break
		}
	}
	if f == nil {
		return nil, FormatUnknown, fmt.Errorf("%s:1: header is not an Intune (Device name, Wi-Fi MAC), Jamf Pro (Wi-Fi MAC Address, Serial Number) or Google Admin (macAddress, serialNumber) device export", name)
	}
	roleCol, hasRole := idx["role"]
	var entries []policy.RegisterEntry
	var errs []error
	firstLine := map[string]int{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			errs = append(errs, fmt.Errorf("%s:%d: %w", name, line, err))
			if pe == nil || pe.Err != csv.ErrQuote && pe.Err != csv.ErrBareQuote {
				break
			}
			continue
		}
		line, _ := r.FieldPos(0)
		get := func(cols []string) string {
			for _, c := range cols {
				if i, ok := idx[c]; ok && i < len(rec) {
					if v := strings.TrimSpace(rec[i]); v != "" {
						return v
					}
				}
			}
			return ""
		}
		if strings.TrimSpace(strings.Join(rec, "")) == "" {
			continue // blank line
		}
		device := get(f.name)
		var kindText []string
		for _, c := range f.kindCols {
			kindText = append(kindText, get([]string{c}))
		}
		base := policy.RegisterEntry{
			Owner:    get(f.owner),
			AssetTag: get(f.asset),
			Kind:     KindFromModel(kindText...),
			Managed:  true,
			Pos:      policy.Pos{Line: line, Col: 1},
		}
		if hasRole && roleCol < len(rec) {
			base.Role = strings.ToLower(strings.TrimSpace(rec[roleCol]))
		}
		found := 0
		for _, c := range f.macs {
			i, ok := idx[c]
			if !ok || i >= len(rec) || strings.TrimSpace(rec[i]) == "" {
				continue
			}
			raw := strings.TrimSpace(rec[i])
			mac, ok := NormalizeMAC(raw)
			if !ok {
				errs = append(errs, fmt.Errorf("%s:%d: device %q: %s %q is not a MAC address; row skipped", name, line, device, header[i], raw))
				found = -1
				break
			}
			if first, dup := firstLine[mac]; dup {
				if first != line {
					errs = append(errs, fmt.Errorf("%s:%d: device %q: MAC %s already listed on line %d; row skipped", name, line, device, mac, first))
				}
				continue
			}
			found++
			firstLine[mac] = line
			e := base
			e.MAC = mac
			entries = append(entries, e)
		}
		if found == 0 {
			errs = append(errs, fmt.Errorf("%s:%d: device %q has no MAC address; row skipped", name, line, device))
		}
	}
	return entries, f.format, errors.Join(errs...)
}

func hasAll(idx map[string]int, require [][]string) bool {
	for _, alts := range require {
		ok := false
		for _, c := range alts {
			if _, ok = idx[c]; ok {
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// NormalizeMAC accepts a MAC as management systems export it —
// "A1B2C3D4E5F6" (Intune, Google), "a1:b2:c3:d4:e5:f6" (Jamf),
// "A1-B2-C3-D4-E5-F6", "a1b2.c3d4.e5f6" — and returns "a1:b2:c3:d4:e5:f6".
// The all-zero and broadcast addresses are rejected.
func NormalizeMAC(s string) (string, bool) {
	var hex []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			hex = append(hex, c)
		case c >= 'A' && c <= 'F':
			hex = append(hex, c+'a'-'A')
		case c == ':' || c == '-' || c == '.' || c == ' ':
		default:
			return "", false
		}
	}
	if len(hex) != 12 {
		return "", false
	}
	if h := string(hex); h == "000000000000" || h == "ffffffffffff" {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.Write(hex[i : i+2])
	}
	return b.String(), true
}

// modelKinds: words in a model or OS column, first match wins, so the
// specific ones come first. Sources: Apple's, Google's and Microsoft's
// product names as the three systems report them (Intune "Model"/"OS",
// Jamf "Model", Google "model").
var modelKinds = []struct{ word, kind string }{
	{"ios/ipados", ""}, // Intune's platform name: phone or tablet is open
	{"apple watch", "smartwatch"}, {"watch", "smartwatch"},
	{"ipad", "tablet"}, {"iphone", "phone"}, {"ipod", "phone"},
	{"chromebox", "desktop"}, {"chromebase", "desktop"}, {"chromebook", "laptop"},
	{"macbook", "laptop"}, {"imac", "desktop"}, {"mac mini", "desktop"}, {"macmini", "desktop"},
	{"mac studio", "desktop"}, {"mac pro", "desktop"}, {"macpro", "desktop"},
	{"apple tv", "tv-media"}, {"appletv", "tv-media"},
	{"surface pro", "laptop"}, {"surface laptop", "laptop"}, {"surface go", "laptop"}, {"surface book", "laptop"},
	{"galaxy tab", "tablet"}, {"tab ", "tablet"}, {"tablet", "tablet"},
	{"laptop", "laptop"}, {"notebook", "laptop"}, {"thinkpad", "laptop"}, {"latitude", "laptop"}, {"elitebook", "laptop"},
	{"probook", "laptop"}, {"vivobook", "laptop"}, {"ideapad", "laptop"}, {"travelmate", "laptop"},
	{"optiplex", "desktop"}, {"thinkcentre", "desktop"}, {"elitedesk", "desktop"}, {"prodesk", "desktop"},
	// OS columns, when the model said nothing. Schools buy Windows and Mac
	// laptops far more than desktops for pupils; a desktop that is called a
	// laptop is still "a computer", and Contradicts treats both alike.
	{"ipados", "tablet"}, {"ios", "phone"}, {"chrome", "laptop"}, {"macos", "laptop"}, {"mac os", "laptop"},
	{"windows", "laptop"},
}

// KindFromModel infers a register kind from model / OS strings (tried in
// order), "" when none says: "iPad (9th generation)" → tablet, "iPhone 13" →
// phone, "HP Chromebook 11 G9 EE" → laptop, OS "Windows" → laptop. An Android
// model name alone does not say phone or tablet.
func KindFromModel(texts ...string) string {
	for _, t := range texts {
		t = " " + strings.ToLower(t) + " "
		for _, m := range modelKinds {
			if strings.Contains(t, m.word) {
				return m.kind // "" for a combined "iOS/iPadOS": phone or tablet is open
			}
		}
	}
	return ""
}

// ContradictConfidence is the classifier confidence from which a profile's
// kind is trusted against the register.
const ContradictConfidence = 0.6

// kindGroup puts kinds that a register and a fingerprint may legitimately
// name differently into one group: a "laptop" on the register that looks
// like a desktop (Windows' DESKTOP-XXXX default name) is no mismatch.
func kindGroup(k string) string {
	switch k {
	case "laptop", "desktop":
		return "computer"
	}
	return k
}

// Contradicts reports whether a confident profile (Confidence at least
// ContradictConfidence, a known kind) is a different kind of device from the
// one the register names — a "school laptop" that looks like an iPhone or a
// games console — and says why in one sentence for the identity-mismatch
// alert (SPT-10). An unknown register kind or an unsure profile never
// contradicts.
func Contradicts(registered string, p fingerprint.Profile) (bool, string) {
	reg := strings.ToLower(strings.TrimSpace(registered))
	if reg == "" || reg == "unknown" || p.Kind == "" || p.Kind == "unknown" || p.Confidence < ContradictConfidence {
		return false, ""
	}
	if kindGroup(reg) == kindGroup(p.Kind) {
		return false, ""
	}
	why := ""
	for _, e := range p.Evidence { // sorted strongest first
		if e.Suggests == "kind="+p.Kind && e.Signal != "register" {
			why = fmt.Sprintf("; strongest evidence: %s %q", e.Signal, e.Value)
			break
		}
	}
	return true, fmt.Sprintf("registered as a %s, but looks like a %s (confidence %.2f%s)", reg, p.Kind, p.Confidence, why)
}
