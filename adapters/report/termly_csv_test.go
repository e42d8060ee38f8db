package report

import (
	"bytes"
	"encoding/csv"
	"strconv"
	"strings"
	"testing"

	model "github.com/hallmonitor/hallmonitor/rules/report"
)

func TestRenderTermlyCSV(t *testing.T) {
	tr := model.Termly([]model.DailyReport{fixtureDaily()}, "=Autumn 2026")
	var buf bytes.Buffer
	if err := RenderTermlyCSV(&buf, tr); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != strings.Join(TermlyCSVHeader, ",") || len(rows) != len(tr.Zones)+2 {
		t.Fatalf("%d rows, header %v", len(rows), rows[0])
	}
	last := rows[len(rows)-1]
	if last[3] != model.AllZones || last[0] != "'=Autumn 2026" || last[1] != tr.From || last[4] != "1" {
		t.Errorf("totals row %v", last)
	}
	if !tr.Totals.Measured || last[9] != strconv.FormatFloat(tr.Totals.Compliance, 'f', 2, 64) || last[6] != strconv.Itoa(tr.Totals.Episodes) || tr.Totals.Episodes == 0 {
		t.Errorf("totals row %v; want %d episodes, compliance %.2f", last, tr.Totals.Episodes, tr.Totals.Compliance)
	}
	for _, r := range rows[1:] {
		if strings.Contains(strings.Join(r, ","), "device-") {
			t.Errorf("the termly CSV names a device: %v", r)
		}
	}
}
