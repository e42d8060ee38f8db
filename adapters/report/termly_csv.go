package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"

	model "github.com/hallmonitor/hallmonitor/rules/report"
)

// TermlyCSVHeader is the first row RenderTermlyCSV writes.
var TermlyCSVHeader = []string{"term", "from", "to", "zone", "school_days", "days_with_breach", "breach_episodes",
	"breach_device_minutes", "present_device_minutes", "compliance_pct"}

// RenderTermlyCSV writes the termly summary's zone table: one row per zone, then
// the "All zones" row; figures to two decimal places, compliance empty when
// nothing was present. Like the other termly renderers it names no device.
func RenderTermlyCSV(w io.Writer, t model.TermlyReport) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(TermlyCSVHeader); err != nil {
		return fmt.Errorf("render termly CSV: %w", err)
	}
	for _, z := range append(append([]model.ZoneTotals(nil), t.Zones...), t.Totals) {
		comp := ""
		if z.Measured {
			comp = strconv.FormatFloat(z.Compliance, 'f', 2, 64)
		}
		row := []string{cell(t.Term), t.From, t.To, cell(z.Zone), strconv.Itoa(t.SchoolDays), strconv.Itoa(z.DaysWithBreach),
			strconv.Itoa(z.Episodes), strconv.FormatFloat(z.BreachMinutes, 'f', 2, 64),
			strconv.FormatFloat(z.PresentMinutes, 'f', 2, 64), comp}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("render termly CSV: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("render termly CSV: %w", err)
	}
	return nil
}

// Percent formats a compliance percentage as the reports print it: rounded down
// to 0.1 % (99.96 % never reads as 100 %), "—" when nothing was measured.
func Percent(v float64, measured bool) string { return pct(v, measured) }
