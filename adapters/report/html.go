// Package report renders the reports of rules/report: the SLT's daily
// zone-compliance report as HTML, CSV or PDF, and the governors' termly summary as
// HTML or PDF. Charts are drawn with gonum/plot into PNG; the HTML embeds them as
// data URIs, so a page is one self-contained file that can be e-mailed.
package report

import (
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"

	model "github.com/hallmonitor/hallmonitor/rules/report"
)

//go:embed templates/*.html.tmpl
var templateFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"pct":   pct,
	"mins":  mins,
	"shade": shade,
	"join":  func(s []string) string { return strings.Join(s, ", ") },
}).ParseFS(templateFS, "templates/*.html.tmpl"))

// pct formats a compliance percentage; "—" when nothing was measured.
func pct(v float64, measured bool) string {
	if !measured {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", math.Floor(v*10+1e-9)/10) // floor: 99.96% must not read as 100%
}

// mins formats device-minutes to the whole minute.
func mins(v float64) string { return fmt.Sprintf("%.0f", v) }

func dataURI(png []byte) template.URL {
	if png == nil {
		return ""
	}
	// Safe: the bytes are a PNG this package drew, base64-encoded.
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
}

// MaxListed is how many repeat devices the HTML and PDF reports list; the rest
// are counted ("and N more"): the list is for spotting patterns, and the DSL has
// the dashboard for each device.
const MaxListed = 50

func listed(ds []model.Device) ([]model.Device, int) {
	if len(ds) <= MaxListed {
		return ds, 0
	}
	return ds[:MaxListed], len(ds) - MaxListed
}

// RenderHTML writes the daily report as one self-contained HTML page: no external
// assets, readable on a phone, the heatmap as a shaded table and as a chart.
func RenderHTML(w io.Writer, d model.DailyReport, siteName string) error {
	heat, err := HeatmapPNG(d)
	if err != nil {
		return fmt.Errorf("render daily HTML: %w", err)
	}
	trend, err := TrendPNG(d.Trend)
	if err != nil {
		return fmt.Errorf("render daily HTML: %w", err)
	}
	shown, more := listed(d.Repeat)
	data := struct {
		Site           string
		D              model.DailyReport
		Repeat         []model.Device
		More           int
		Heatmap, Trend template.URL
	}{siteName, d, shown, more, dataURI(heat), dataURI(trend)}
	if err := pages.ExecuteTemplate(w, "daily.html.tmpl", data); err != nil {
		return fmt.Errorf("render daily HTML: %w", err)
	}
	return nil
}

// RenderTermlyHTML writes the governors' termly summary as one self-contained page.
func RenderTermlyHTML(w io.Writer, t model.TermlyReport, siteName string) error {
	weeks, err := WeeksPNG(t.Weeks)
	if err != nil {
		return fmt.Errorf("render termly HTML: %w", err)
	}
	data := struct {
		Site  string
		T     model.TermlyReport
		Weeks template.URL
	}{siteName, t, dataURI(weeks)}
	if err := pages.ExecuteTemplate(w, "termly.html.tmpl", data); err != nil {
		return fmt.Errorf("render termly HTML: %w", err)
	}
	return nil
}
