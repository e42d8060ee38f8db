package report

import (
	"io"
	"testing"

	model "github.com/hallmonitor/hallmonitor/rules/report"
)

// BenchmarkDaily computes a day's report for 3,000 devices (24,000 stays, 3,000
// episodes) with a 30-day trend; "30days" computes all thirty days, the work
// the command does to build a 30-day trend from the store's records.
func BenchmarkDaily(b *testing.B) {
	in := bigInput(3000, 30)
	p := model.Pseudonymiser([]byte("bench secret"))
	b.Run("1day", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			model.Daily(in, p)
		}
	})
	b.Run("30days", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for range 30 {
				model.Daily(in, p)
			}
		}
	})
}

// BenchmarkRenderPDF renders that report (charts drawn and embedded) as a PDF.
func BenchmarkRenderPDF(b *testing.B) {
	d := model.Daily(bigInput(3000, 30), model.Pseudonymiser([]byte("bench secret")))
	b.ReportAllocs()
	for b.Loop() {
		if err := RenderPDF(io.Discard, d, "Big School"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderHTML renders the same report as a self-contained page.
func BenchmarkRenderHTML(b *testing.B) {
	d := model.Daily(bigInput(3000, 30), model.Pseudonymiser([]byte("bench secret")))
	b.ReportAllocs()
	for b.Loop() {
		if err := RenderHTML(io.Discard, d, "Big School"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDailyPDF30Days is the whole job from records: 29 earlier days computed
// for the trend, the day itself, and the PDF (the ≤ 500 ms budget).
func BenchmarkDailyPDF30Days(b *testing.B) {
	in := bigInput(3000, 0)
	p := model.Pseudonymiser([]byte("bench secret"))
	b.ReportAllocs()
	for b.Loop() {
		prev := make([]model.DaySummary, 0, 29)
		for i := 29; i > 0; i-- {
			day := in
			day.Day = in.Day.AddDate(0, 0, -i) // same records, an earlier label: the work is the same
			s := model.Daily(in, p).Summary()
			s.Day = day.Day.Format("2006-01-02")
			prev = append(prev, s)
		}
		today := in
		today.Previous = prev
		if err := RenderPDF(io.Discard, model.Daily(today, p), "Big School"); err != nil {
			b.Fatal(err)
		}
	}
}
