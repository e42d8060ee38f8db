package dashboard

import (
	"strings"
	"testing"
	"time"
)

// TestBannerWhenPolicyReviewOverdue: once the policy review date (SPT-14, OSS-7) has
// passed, every page says so; before it, and when no date is set, no page does.
func TestBannerWhenPolicyReviewOverdue(t *testing.T) {
	// The fixture's clock reads 2025-03-12 10:15 UTC.
	tests := []struct {
		name   string
		due    time.Time
		banner bool
	}{
		{"overdue (OSS: July 2024)", time.Date(2024, 7, 31, 0, 0, 0, 0, time.UTC), true},
		{"due this very minute", time.Date(2025, 3, 12, 10, 15, 0, 0, time.UTC), true},
		{"not yet due (SPT: September 2026)", time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), false},
		{"no review date", time.Time{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(o *Options) { o.PolicyReviewDue = tc.due })
			b := f.newBrowser()
			b.login(dslUser, dslPassword)
			for _, page := range []string{"/alerts", "/devices"} {
				html := readBody(t, b.get(page))
				has := strings.Contains(html, `id="policy-review-due"`)
				if has != tc.banner {
					t.Errorf("%s: banner shown = %v, want %v", page, has, tc.banner)
				}
				if tc.banner && !strings.Contains(html, "was due for review on "+tc.due.Format("2 January 2006")+" (SPT-14, OSS-7)") {
					t.Errorf("%s: banner does not give the date:\n%s", page, html)
				}
			}
		})
	}
}
