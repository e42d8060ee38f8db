package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"

	model "github.com/hallmonitor/hallmonitor/rules/report"
)

// CSVHeader is the first row RenderCSV writes.
var CSVHeader = []string{"day", "zone", "devices_seen", "breach_episodes", "breach_device_minutes",
	"present_device_minutes", "compliance_pct", "repeat_devices"}

// RenderCSV writes one row per zone (after the header): figures to two decimal
// places, compliance empty when nothing was present in the zone.
func RenderCSV(w io.Writer, d model.DailyReport) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return fmt.Errorf("render CSV: %w", err)
	}
	repeat := map[string]int{}
	for _, dev := range d.Repeat {
		for _, z := range dev.Zones {
			repeat[z]++
		}
	}
	for _, z := range d.Zones {
		comp := ""
		if z.Measured {
			comp = strconv.FormatFloat(z.Compliance, 'f', 2, 64)
		}
		row := []string{d.Day, cell(z.Zone), strconv.Itoa(z.DevicesSeen), strconv.Itoa(z.Episodes),
			strconv.FormatFloat(z.BreachMinutes, 'f', 2, 64), strconv.FormatFloat(z.PresentMinutes, 'f', 2, 64),
			comp, strconv.Itoa(repeat[z.Zone])}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("render CSV: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("render CSV: %w", err)
	}
	return nil
}

// cell keeps a spreadsheet from running a text field as a formula (CSV injection).
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
