package report

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/go-pdf/fpdf"

	model "github.com/hallmonitor/hallmonitor/rules/report"
)

// A4 portrait, millimetres.
const (
	pageMargin = 15.0
	rowH       = 6.0
)

type pdfDoc struct {
	f  *fpdf.Fpdf
	tr func(string) string // UTF-8 to the core fonts' cp1252
	w  float64             // usable width
}

func newPDF(title, day string) *pdfDoc {
	f := fpdf.New("P", "mm", "A4", "")
	f.SetMargins(pageMargin, pageMargin, pageMargin)
	f.SetAutoPageBreak(true, pageMargin)
	f.SetTitle(title, true)
	f.SetCreator("HallMonitor", true)
	f.AliasNbPages("{nb}")
	d := &pdfDoc{f: f, tr: f.UnicodeTranslatorFromDescriptor("")}
	pw, _ := f.GetPageSize()
	d.w = pw - 2*pageMargin
	f.SetFooterFunc(func() {
		f.SetY(-12)
		f.SetFont("Helvetica", "I", 8)
		f.SetTextColor(90, 90, 90)
		f.CellFormat(0, 5, d.tr(fmt.Sprintf("%s (%s). Devices are pseudonymised; no pupil names are held. Page %d of {nb}", title, day, f.PageNo())), "", 0, "C", false, 0, "")
		f.SetTextColor(0, 0, 0)
	})
	f.AddPage()
	return d
}

func (d *pdfDoc) heading(size float64, s string) {
	d.f.SetFont("Helvetica", "B", size)
	d.f.MultiCell(0, size*0.5, d.tr(s), "", "L", false)
	d.f.Ln(1)
}

func (d *pdfDoc) para(s string) {
	d.f.SetFont("Helvetica", "", 10)
	d.f.MultiCell(0, 5, d.tr(s), "", "L", false)
	d.f.Ln(1)
}

func (d *pdfDoc) warn(s string) {
	d.f.SetFont("Helvetica", "B", 10)
	d.f.SetFillColor(0xff, 0xf4, 0xce)
	d.f.MultiCell(0, 6, d.tr(s), "1", "L", true)
	d.f.Ln(2)
}

// table draws a header row and rows; widths are fractions of the usable width; the
// first column is left-aligned, the rest right-aligned. The header repeats after a
// page break.
func (d *pdfDoc) table(widths []float64, header []string, rows [][]string, footer []string) {
	_, ph := d.f.GetPageSize()
	head := func() {
		d.f.SetFont("Helvetica", "B", 9)
		d.f.SetFillColor(0xee, 0xf3, 0xf8)
		for i, h := range header {
			d.f.CellFormat(widths[i]*d.w, rowH, d.tr(h), "1", 0, align(i), true, 0, "")
		}
		d.f.Ln(-1)
	}
	head()
	line := func(r []string, style string) {
		if d.f.GetY()+rowH > ph-pageMargin-5 {
			d.f.AddPage()
			head()
		}
		d.f.SetFont("Helvetica", style, 9)
		for i, c := range r {
			d.f.CellFormat(widths[i]*d.w, rowH, d.tr(fit(d.f, c, widths[i]*d.w-2)), "1", 0, align(i), false, 0, "")
		}
		d.f.Ln(-1)
	}
	for _, r := range rows {
		line(r, "")
	}
	if footer != nil {
		line(footer, "B")
	}
	d.f.Ln(3)
}

func align(col int) string {
	if col == 0 {
		return "L"
	}
	return "R"
}

// fit shortens s with "..." to width mm in the current font.
func fit(f *fpdf.Fpdf, s string, width float64) string {
	if f.GetStringWidth(s) <= width {
		return s
	}
	r := []rune(s)
	for len(r) > 1 && f.GetStringWidth(string(r)+"...") > width {
		r = r[:len(r)-1]
	}
	return string(r) + "..."
}

// image places a PNG at full width (or less, keeping it on one page).
func (d *pdfDoc) image(name string, png []byte) {
	if png == nil {
		return
	}
	info := d.f.RegisterImageOptionsReader(name, fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(png))
	if info == nil || d.f.Err() {
		return
	}
	w := d.w
	h := w * info.Height() / info.Width()
	_, ph := d.f.GetPageSize()
	if d.f.GetY()+h > ph-pageMargin-5 {
		d.f.AddPage()
	}
	d.f.ImageOptions(name, pageMargin, d.f.GetY(), w, h, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	d.f.SetY(d.f.GetY() + h + 3)
}

func (d *pdfDoc) output(w io.Writer, what string) error {
	if err := d.f.Output(w); err != nil {
		return fmt.Errorf("render %s PDF: %w", what, err)
	}
	return nil
}

// RenderPDF writes the daily report as a PDF: title, key figures, the per-zone
// table, the heatmap and trend charts (gonum/plot PNGs), repeat devices by
// pseudonym and the rules breached.
func RenderPDF(w io.Writer, d model.DailyReport, siteName string) error {
	heat, err := HeatmapPNG(d)
	if err != nil {
		return fmt.Errorf("render daily PDF: %w", err)
	}
	trend, err := TrendPNG(d.Trend)
	if err != nil {
		return fmt.Errorf("render daily PDF: %w", err)
	}
	title := siteName + ": mobile-device compliance"
	doc := newPDF(title, d.Day)
	doc.heading(16, title)
	sub := d.Weekday + " " + d.Day
	if d.SchoolDay {
		sub += ", pupil hours " + strings.Join(d.PupilHours, ", ")
	} else {
		sub += ": not a school day (no pupil hours)"
	}
	doc.para(sub)
	if d.ReviewOverdue {
		doc.warn("The device policy's review was due on " + d.PolicyReviewDue + " and is overdue (SPT-14).")
	} else if d.PolicyReviewDue != "" {
		doc.para("Policy review due " + d.PolicyReviewDue + ".")
	}
	doc.para(fmt.Sprintf("Compliance %s. Breach episodes %d; device-minutes in breach %s; devices seen %d; repeat devices %d; exemptions used %d; enforcement actions %d.",
		pct(d.Totals.Compliance, d.Totals.Measured), d.Totals.Episodes, mins(d.Totals.BreachMinutes), d.Totals.DevicesSeen,
		len(d.Repeat), d.ExemptionsUsed, d.EnforcementActions))
	if d.OpenEpisodes > 0 {
		doc.para(fmt.Sprintf("%d episode(s) were still open when this report was made; they count until then.", d.OpenEpisodes))
	}
	if d.OutsideHoursEpisodes > 0 {
		doc.para(fmt.Sprintf("%d episode(s) opened outside pupil hours are not in these figures.", d.OutsideHoursEpisodes))
	}

	doc.heading(12, "By zone")
	var rows [][]string
	for _, z := range d.Zones {
		rows = append(rows, zoneRow(z))
	}
	doc.table([]float64{.28, .13, .14, .16, .16, .13},
		[]string{"Zone", "Devices seen", "Episodes", "Dev-min breach", "Dev-min present", "Compliance"}, rows, zoneRow(d.Totals))

	if heat != nil {
		doc.heading(12, "When and where: device-minutes in breach")
		doc.image("heatmap", heat)
	}
	doc.heading(12, "Trend over recent school days")
	if trend != nil {
		doc.image("trend", trend)
	}
	rows = rows[:0]
	for _, t := range d.Trend {
		rows = append(rows, []string{t.Day, strconv.Itoa(t.Episodes), mins(t.BreachMinutes), pct(t.Compliance, t.Measured)})
	}
	doc.table([]float64{.34, .22, .22, .22}, []string{"Day", "Episodes", "Dev-min breach", "Compliance"}, rows, nil)

	doc.heading(12, "Repeat devices (two or more episodes)")
	if len(d.Repeat) == 0 {
		doc.para("None.")
	} else {
		shown, more := listed(d.Repeat)
		rows = rows[:0]
		for _, r := range shown {
			rows = append(rows, []string{r.Device, strconv.Itoa(r.Episodes), mins(r.BreachMinutes), strings.Join(r.Zones, ", "), strings.Join(r.Rules, ", ")})
		}
		doc.table([]float64{.22, .11, .15, .24, .28}, []string{"Device", "Episodes", "Dev-min breach", "Zones", "Rules"}, rows, nil)
		if more > 0 {
			doc.para(fmt.Sprintf("and %d more repeat devices, not listed.", more))
		}
	}
	doc.heading(12, "Rules breached")
	if len(d.Rules) == 0 {
		doc.para("None.")
	} else {
		doc.table([]float64{.4, .24, .16, .2}, []string{"Rule", "Clauses", "Episodes", "Dev-min breach"}, ruleRows(d.Rules), nil)
	}
	doc.para("Compliance = 1 - device-minutes in breach / device-minutes present, both counted in pupil hours only. Devices are shown by a keyed pseudonym; the DSL can identify one when there is a safeguarding reason. Definitions: docs/reports.md.")
	return doc.output(w, "daily")
}

// RenderTermlyPDF writes the governors' termly summary as a PDF.
func RenderTermlyPDF(w io.Writer, t model.TermlyReport, siteName string) error {
	weeks, err := WeeksPNG(t.Weeks)
	if err != nil {
		return fmt.Errorf("render termly PDF: %w", err)
	}
	title := siteName + ": mobile-device policy, termly summary"
	doc := newPDF(title, t.Term)
	doc.heading(16, title)
	if t.SchoolDays > 0 {
		doc.para(fmt.Sprintf("%s: %d school days, %s to %s.", t.Term, t.SchoolDays, t.From, t.To))
	} else {
		doc.para(t.Term + ": no school days reported.")
	}
	if t.ReviewOverdue {
		doc.warn("The device policy's review was due on " + t.PolicyReviewDue + " and is overdue (SPT-14).")
	} else if t.PolicyReviewDue != "" {
		doc.para("Policy review due " + t.PolicyReviewDue + ".")
	}
	doc.para(fmt.Sprintf("Compliance %s. Breach episodes %d; device-minutes in breach %s; devices in breach %d, of which %d repeat devices (%.0f%% of episodes); exemptions used %d; enforcement actions %d.",
		pct(t.Totals.Compliance, t.Totals.Measured), t.Totals.Episodes, mins(t.Totals.BreachMinutes), t.DevicesInBreach,
		t.RepeatDevices, t.RepeatShare, t.ExemptionsUsed, t.EnforcementActions))
	doc.heading(12, "Compliance by week")
	doc.image("weeks", weeks)
	var rows [][]string
	for _, wk := range t.Weeks {
		rows = append(rows, []string{wk.WeekOf, strconv.Itoa(wk.Days), strconv.Itoa(wk.Episodes), mins(wk.BreachMinutes), pct(wk.Compliance, wk.Measured)})
	}
	doc.table([]float64{.28, .16, .16, .2, .2}, []string{"Week commencing", "Days", "Episodes", "Dev-min breach", "Compliance"}, rows, nil)
	doc.heading(12, "By zone")
	rows = rows[:0]
	for _, z := range t.Zones {
		rows = append(rows, []string{z.Zone, strconv.Itoa(z.Episodes), strconv.Itoa(z.DaysWithBreach), mins(z.BreachMinutes), pct(z.Compliance, z.Measured)})
	}
	doc.table([]float64{.32, .16, .16, .18, .18}, []string{"Zone", "Episodes", "Days with breach", "Dev-min breach", "Compliance"}, rows, nil)
	doc.heading(12, "Most breached rules")
	if len(t.Rules) == 0 {
		doc.para("None.")
	} else {
		doc.table([]float64{.4, .24, .16, .2}, []string{"Rule", "Clauses", "Episodes", "Dev-min breach"}, ruleRows(t.Rules), nil)
	}
	doc.para("Aggregate figures only: no device or person is named. Figures count pupil hours on school days. Definitions: docs/reports.md.")
	return doc.output(w, "termly")
}

func zoneRow(z model.ZoneFigures) []string {
	return []string{z.Zone, strconv.Itoa(z.DevicesSeen), strconv.Itoa(z.Episodes), mins(z.BreachMinutes), mins(z.PresentMinutes), pct(z.Compliance, z.Measured)}
}

func ruleRows(rs []model.RuleCount) [][]string {
	var rows [][]string
	for _, r := range rs {
		rows = append(rows, []string{r.Rule, strings.Join(r.Clauses, ", "), strconv.Itoa(r.Episodes), mins(r.BreachMinutes)})
	}
	return rows
}
