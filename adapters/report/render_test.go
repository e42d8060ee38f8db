package report

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"flag"
	"html"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
	model "github.com/hallmonitor/hallmonitor/rules/report"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// html/template writes "+" as "&#43;" in attributes; a browser reads it back.
var dataURIs = regexp.MustCompile(`data:image/png;base64,(?:[A-Za-z0-9+/=]|&#43;)+`)

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update after checking the change):\n%s", name, firstDiff(string(got), string(want)))
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return "line " + itoa(i+1) + ":\n got: " + a + "\nwant: " + b
		}
	}
	return ""
}

func itoa(i int) string { return strconv.Itoa(i) }

// pngsIn decodes every inline chart of an HTML page and returns the count.
func pngsIn(t *testing.T, page string) int {
	t.Helper()
	uris := dataURIs.FindAllString(page, -1)
	for _, u := range uris {
		b, err := base64.StdEncoding.DecodeString(html.UnescapeString(strings.TrimPrefix(u, "data:image/png;base64,")))
		if err != nil {
			t.Fatalf("inline chart is not base64: %v", err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("inline chart is not a PNG: %v", err)
		}
		if r := img.Bounds(); r.Dx() < 300 || r.Dy() < 100 {
			t.Errorf("inline chart is %dx%d px: too small to read", r.Dx(), r.Dy())
		}
	}
	return len(uris)
}

func TestRenderHTML(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		report func() model.DailyReport
		charts int
		must   []string // what SLT must see on the page
	}{
		{
			name: "school day", golden: "daily.html", report: fixtureDaily, charts: 2,
			must: []string{
				`<meta name="viewport" content="width=device-width, initial-scale=1">`,
				`overdue (SPT-14)`,
				`<td>teaching</td><td>2</td><td>2</td><td>45</td><td>840</td><td>94.6%</td>`,                                                    // 1 − 45/840
				`<td>device-01f9a0c1e2</td><td>2</td>`,                                                                                          // the repeat device, by pseudonym
				`<td>pupil-area</td><td class="h0">0</td><td class="h0">0</td><td class="h0">0</td><td class="h0">0</td><td class="h5">45</td>`, // the worst hour is shaded darkest
				`<td>pupil-device-switched-on</td><td>SPT-13</td><td>2</td>`,
			},
		},
		{
			name: "not a school day", golden: "daily-noschool.html", charts: 1,
			report: func() model.DailyReport {
				in := fixtureInput()
				in.PupilHours, in.Visits, in.Alerts = nil, nil, nil
				in.Day = on("2026-11-22", "00:00")
				in.Previous = in.Previous[:3]
				return model.Daily(in, fixturePseudonym)
			},
			must: []string{"not a school day (no pupil hours)", "<b>—</b>"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := RenderHTML(&buf, tc.report(), "Special Partnership Trust"); err != nil {
				t.Fatal(err)
			}
			page := buf.String()
			if n := pngsIn(t, page); n != tc.charts {
				t.Errorf("%d inline charts, want %d", n, tc.charts)
			}
			for _, s := range tc.must {
				if !strings.Contains(page, s) {
					t.Errorf("page lacks %s", s)
				}
			}
			selfContained(t, page)
			golden(t, tc.golden, []byte(dataURIs.ReplaceAllString(page, "data:image/png;base64,CHART")))
		})
	}
}

// selfContained: a page e-mailed to SLT loads nothing from anywhere and names no MAC.
func selfContained(t *testing.T, page string) {
	t.Helper()
	for _, bad := range []string{"http://", "https://", "<script", "<link", "@import", "02:00:00:"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}

func TestRenderTermlyHTML(t *testing.T) {
	a := fixtureDaily()
	in := fixtureInput()
	in.Day = on("2026-11-24", "00:00")
	in.PupilHours = []model.Window{{From: on("2026-11-24", "08:30"), To: on("2026-11-24", "15:30")}}
	for i := range in.Visits {
		in.Visits[i].From, in.Visits[i].To = in.Visits[i].From.AddDate(0, 0, 1), in.Visits[i].To.AddDate(0, 0, 1)
	}
	for i := range in.Alerts {
		in.Alerts[i].Opened = in.Alerts[i].Opened.AddDate(0, 0, 1)
		c := in.Alerts[i].Closed.AddDate(0, 0, 1)
		in.Alerts[i].Closed = &c
	}
	tr := model.Termly([]model.DailyReport{a, model.Daily(in, fixturePseudonym)}, "Autumn 2026")
	var buf bytes.Buffer
	if err := RenderTermlyHTML(&buf, tr, "Special Partnership Trust"); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if n := pngsIn(t, page); n != 1 {
		t.Errorf("%d inline charts, want the weekly trend", n)
	}
	for _, s := range []string{"2 school days, 2026-11-23 to 2026-11-24", "<td>2026-11-23</td><td>2</td><td>6</td>", "overdue (SPT-14)"} {
		if !strings.Contains(page, s) {
			t.Errorf("termly page lacks %s", s)
		}
	}
	if regexp.MustCompile(`device-[0-9a-f]{6}`).MatchString(page) {
		t.Error("the governors' summary names a device")
	}
	selfContained(t, page)
	golden(t, "termly.html", []byte(dataURIs.ReplaceAllString(page, "data:image/png;base64,CHART")))
}

func TestRenderCSV(t *testing.T) {
	var buf bytes.Buffer
	d := fixtureDaily()
	d.Zones = append(d.Zones, model.ZoneFigures{Zone: "=HYPERLINK(\"x\")"})
	if err := RenderCSV(&buf, d); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		zone, col, want string
	}{
		{"teaching", "compliance_pct", "94.64"},
		{"teaching", "breach_device_minutes", "45.00"},
		{"teaching", "repeat_devices", "1"},
		{"pupil-area", "compliance_pct", "25.00"}, // 45 of 60 minutes in breach
		{"staff-room", "compliance_pct", "100.00"},
		{"staff-room", "present_device_minutes", "420.00"}, // 08:00–16:00 counted 08:30–15:30 only
		{"reception", "devices_seen", "1"},
	}
	for _, tc := range tests {
		if got := csvCell(t, rows, tc.zone, tc.col); got != tc.want {
			t.Errorf("%s %s = %q, want %q", tc.zone, tc.col, got, tc.want)
		}
	}
	if got := rows[len(rows)-1][1]; !strings.HasPrefix(got, "'=") {
		t.Errorf("a zone named like a formula is written as %q: spreadsheets would run it", got)
	}
	if len(rows) != 1+len(d.Zones) {
		t.Errorf("%d rows, want a header and one per zone", len(rows))
	}
	golden(t, "daily.csv", buf.Bytes())
}

func csvCell(t *testing.T, rows [][]string, zone, col string) string {
	t.Helper()
	ci := -1
	for i, h := range rows[0] {
		if h == col {
			ci = i
		}
	}
	for _, r := range rows[1:] {
		if r[1] == zone && ci >= 0 {
			return r[ci]
		}
	}
	t.Fatalf("no %s/%s in CSV", zone, col)
	return ""
}

// pdfPages renders a PDF with pdftoppm and returns the PNG pages' sizes.
func pdfPages(t *testing.T, pdf []byte) []int64 {
	t.Helper()
	tools := lab.RequireTools(t, "pdftoppm")
	dir := t.TempDir()
	in := filepath.Join(dir, "r.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tools[0], "-png", "-r", "40", in, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "page*.png"))
	var sizes []int64
	for _, p := range pages {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, st.Size())
	}
	return sizes
}

// pdfText extracts the text when pdftotext is there (poppler-utils ships both).
func pdfText(t *testing.T, pdf []byte) (string, bool) {
	t.Helper()
	p, err := exec.LookPath("pdftotext")
	if err != nil {
		return "", false
	}
	cmd := exec.Command(p, "-layout", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out), true
}

func TestRenderPDF(t *testing.T) {
	tests := []struct {
		name   string
		render func(*bytes.Buffer) error
		text   []string
	}{
		{"daily", func(b *bytes.Buffer) error { return RenderPDF(b, fixtureDaily(), "Special Partnership Trust") },
			[]string{"mobile-device compliance", "teaching", "94.6%", "device-01f9a0c1e2", "overdue (SPT-14)", "SPT-13"}},
		{"daily, 3000 devices", func(b *bytes.Buffer) error {
			return RenderPDF(b, model.Daily(bigInput(3000, 30), model.Pseudonymiser([]byte("k"))), "Big School")
		}, []string{"Repeat devices"}},
		{"termly", func(b *bytes.Buffer) error {
			return RenderTermlyPDF(b, model.Termly([]model.DailyReport{fixtureDaily()}, "Autumn 2026"), "Special Partnership Trust")
		}, []string{"termly summary", "Compliance by week", "pupil-device-switched-on"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.render(&buf); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(buf.Bytes(), []byte("%PDF-")) {
				t.Fatalf("not a PDF: %q", buf.Bytes()[:min(20, buf.Len())])
			}
			sizes := pdfPages(t, buf.Bytes())
			if len(sizes) == 0 {
				t.Fatal("pdftoppm rendered no page")
			}
			for i, s := range sizes {
				if s == 0 {
					t.Errorf("page %d rendered empty", i+1)
				}
			}
			if text, ok := pdfText(t, buf.Bytes()); ok {
				for _, s := range tc.text {
					if !strings.Contains(text, s) {
						t.Errorf("PDF text lacks %q", s)
					}
				}
				if strings.Contains(text, "02:00:00:") {
					t.Error("the PDF names a MAC")
				}
			}
		})
	}
}

func TestCharts(t *testing.T) {
	d := fixtureDaily()
	heat, err := HeatmapPNG(d)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(heat))
	if err != nil {
		t.Fatalf("heatmap is not a PNG: %v", err)
	}
	// The chart's colours must show breach: some pixel is in the dark end of the palette.
	dark := false
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y && !dark; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 == 0x7a && g>>8 == 0x01 && bl>>8 == 0x77 {
				dark = true
				break
			}
		}
	}
	if !dark {
		t.Error("the heatmap has no cell in the darkest shade, yet 12:00 in the pupil area is the day's worst hour")
	}
	none, err := HeatmapPNG(model.DailyReport{})
	if err != nil || none != nil {
		t.Errorf("a day without pupil hours draws a heatmap: %v", err)
	}
	if tr, err := TrendPNG(d.Trend); err != nil || tr == nil {
		t.Errorf("trend chart: %v", err)
	}
}

func TestRepeatListIsCapped(t *testing.T) {
	d := model.Daily(bigInput(300, 0), model.Pseudonymiser([]byte("k"))) // 100 devices with two episodes
	if len(d.Repeat) != 100 {
		t.Fatalf("fixture has %d repeat devices, want 100", len(d.Repeat))
	}
	var buf bytes.Buffer
	if err := RenderHTML(&buf, d, "Big School"); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if n := strings.Count(page, "<tr><td>device-"); n != MaxListed {
		t.Errorf("%d repeat devices listed, want the top %d", n, MaxListed)
	}
	if !strings.Contains(page, "and 50 more repeat devices, not listed.") {
		t.Error("the page does not say how many repeat devices it left out")
	}
	if !strings.Contains(page, "<div class=\"card\">Repeat devices<b>100</b>") {
		t.Error("the key figure does not count every repeat device")
	}
}
