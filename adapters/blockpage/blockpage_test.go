package blockpage

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hallmonitor/hallmonitor/rules/policy"
)

func TestBlockPageExplainsTheClauseAndTheMonitoring(t *testing.T) {
	blocked := true
	s, err := New(Options{
		Listen: []string{"127.0.0.1:0"}, School: "Oakham Shires School", Contact: "the school office",
		Clauses: map[string]string{"OSS-2.1": "Devices that reach the internet without the school's filter stay at reception."},
		Decision: func(client netip.Addr) (policy.Decision, bool) {
			if client != netip.MustParseAddr("127.0.0.1") {
				return policy.Decision{}, false
			}
			if !blocked {
				return policy.Decision{Action: "allow"}, true
			}
			return policy.Decision{Action: "block", Rule: "pupil-device-unfiltered", Clauses: []string{"OSS-2.1"},
				Reason: "Pupil's personal device reached the internet without the school's filter."}, true
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(5 * time.Second):
			t.Error("block page server did not stop")
		}
	}()
	url := "http://" + s.Addrs()[0].String() + "/generate_204"
	get := func() (int, string, http.Header) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	code, body, h := get()
	if code != http.StatusForbidden {
		t.Errorf("status %d, want 403 (a captive-portal probe must not look like the internet)", code)
	}
	for _, want := range []string{"OSS-2.1", "reached the internet without the school", "the school office", "monitored to keep pupils safe"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("CSP %q", h.Get("Content-Security-Policy"))
	}
	blocked = false
	_, body, _ = get()
	if strings.Contains(body, "OSS-2.1") || !strings.Contains(body, "monitored") {
		t.Errorf("an unblocked device's page names a clause or lacks the notice:\n%s", body)
	}
	if _, err := New(Options{Listen: []string{"0.0.0.0:80"}, Decision: func(netip.Addr) (policy.Decision, bool) { return policy.Decision{}, false }}); err == nil {
		t.Error("a wildcard listen address was accepted")
	}
}
