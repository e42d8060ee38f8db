package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	model "github.com/hallmonitor/hallmonitor/rules/report"
)

// Chart sizes in points (1/72 inch); the PNGs are drawn at plot's default 96 dpi.
const (
	heatmapWidth  = 520
	trendWidth    = 520
	trendHeight   = 200
	heatmapPerRow = 22
	heatmapMinH   = 140
)

// shades is the heatmap's palette: white (no breach) to deep red, the same
// steps the HTML table uses for its cells.
var shades = []color.RGBA{
	{0xff, 0xff, 0xff, 0xff},
	{0xfd, 0xe0, 0xdd, 0xff}, {0xfa, 0x9f, 0xb5, 0xff}, {0xf7, 0x68, 0xa1, 0xff}, {0xc5, 0x1b, 0x8a, 0xff}, {0x7a, 0x01, 0x77, 0xff},
}

// shade is the step of shades for v on a scale up to top (0 only for no breach).
func shade(v, top float64) int {
	if v <= 0 || top <= 0 {
		return 0
	}
	n := len(shades) - 1
	s := int(math.Ceil(v / top * float64(n)))
	return min(max(s, 1), n)
}

type shadePalette struct{}

func (shadePalette) Colors() []color.Color {
	cs := make([]color.Color, len(shades))
	for i, c := range shades {
		cs[i] = c
	}
	return cs
}

// heatGrid is the hour × zone grid of breach device-minutes: columns are hours,
// rows are zones (the first zone at the top).
type heatGrid struct{ d model.DailyReport }

func (g heatGrid) Dims() (c, r int)   { return len(g.d.Hours), len(g.d.Zones) }
func (g heatGrid) X(c int) float64    { return float64(c) }
func (g heatGrid) Y(r int) float64    { return float64(r) }
func (g heatGrid) Z(c, r int) float64 { return g.d.Zones[len(g.d.Zones)-1-r].ByHour[c] }

// HeatmapPNG draws the hour × zone heatmap of breach device-minutes as a PNG.
// It returns nil (and no error) when there is nothing to draw: no pupil hours or no zones.
func HeatmapPNG(d model.DailyReport) ([]byte, error) {
	if len(d.Hours) == 0 || len(d.Zones) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = "Device-minutes in breach, by hour and zone"
	hm := plotter.NewHeatMap(heatGrid{d}, shadePalette{})
	hm.Min, hm.Max = 0, max(d.HeatMax, 1)
	hm.Rasterized = false
	p.Add(hm)
	var xt, yt []plot.Tick
	for i, h := range d.Hours {
		xt = append(xt, plot.Tick{Value: float64(i), Label: h.Label})
	}
	for r := range d.Zones {
		yt = append(yt, plot.Tick{Value: float64(r), Label: d.Zones[len(d.Zones)-1-r].Zone})
	}
	p.X.Tick.Marker = plot.ConstantTicks(xt)
	p.Y.Tick.Marker = plot.ConstantTicks(yt)
	p.X.Label.Text = "hour (local time)"
	// Each cell's value, so the chart reads without a colour key.
	var labels []string
	var xys plotter.XYs
	for r := range d.Zones {
		z := d.Zones[len(d.Zones)-1-r]
		for c, v := range z.ByHour {
			if v > 0 {
				xys = append(xys, plotter.XY{X: float64(c), Y: float64(r)})
				labels = append(labels, fmt.Sprintf("%.0f", v))
			}
		}
	}
	if len(xys) > 0 {
		l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
		if err != nil {
			return nil, fmt.Errorf("heatmap labels: %w", err)
		}
		for i := range l.TextStyle {
			l.TextStyle[i].XAlign, l.TextStyle[i].YAlign = -0.5, -0.5
			if v, _ := strconv.ParseFloat(labels[i], 64); shade(v, d.HeatMax) >= 4 {
				l.TextStyle[i].Color = color.White // readable on the dark shades
			}
		}
		p.Add(l)
	}
	h := max(heatmapMinH, 60+heatmapPerRow*len(d.Zones))
	return renderPNG(p, heatmapWidth, h, "heatmap")
}

// TrendPNG draws compliance over the trend's school days as a line.
func TrendPNG(points []model.TrendPoint) ([]byte, error) {
	labels := make([]string, len(points))
	vals := make([]float64, len(points))
	ok := make([]bool, len(points))
	for i, t := range points {
		labels[i], vals[i], ok[i] = t.Day[5:], t.Compliance, t.Measured
	}
	return lineChart("Compliance in pupil hours (%)", labels, vals, ok)
}

// WeeksPNG draws the termly summary's compliance per week.
func WeeksPNG(weeks []model.Week) ([]byte, error) {
	labels := make([]string, len(weeks))
	vals := make([]float64, len(weeks))
	ok := make([]bool, len(weeks))
	for i, w := range weeks {
		labels[i], vals[i], ok[i] = "w/c "+w.WeekOf[5:], w.Compliance, w.Measured
	}
	return lineChart("Compliance in pupil hours per week (%)", labels, vals, ok)
}

func lineChart(title string, labels []string, vals []float64, ok []bool) ([]byte, error) {
	var xys plotter.XYs
	var ticks []plot.Tick
	for i := range vals {
		ticks = append(ticks, plot.Tick{Value: float64(i), Label: labels[i]})
		if ok[i] {
			xys = append(xys, plotter.XY{X: float64(i), Y: vals[i]})
		}
	}
	if len(xys) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = title
	line, points, err := plotter.NewLinePoints(xys)
	if err != nil {
		return nil, fmt.Errorf("trend line: %w", err)
	}
	line.Color = color.RGBA{0x1f, 0x4e, 0x79, 0xff}
	line.Width = vg.Points(2)
	points.Color = line.Color
	p.Add(plotter.NewGrid(), line, points)
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = -0.5, float64(len(vals))-0.5
	p.Y.Min, p.Y.Max = 0, 100
	return renderPNG(p, trendWidth, trendHeight, "trend")
}

func renderPNG(p *plot.Plot, w, h int, what string) ([]byte, error) {
	wt, err := p.WriterTo(vg.Points(float64(w)), vg.Points(float64(h)), "png")
	if err != nil {
		return nil, fmt.Errorf("%s chart: %w", what, err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("%s chart: %w", what, err)
	}
	return buf.Bytes(), nil
}
