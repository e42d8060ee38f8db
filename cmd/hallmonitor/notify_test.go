package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/daemon/config"
	"github.com/hallmonitor/hallmonitor/rules/fingerprint"
)

// oneShot is a source that emits its observations once and then waits.
type oneShot []daemon.Observation

func (s oneShot) Run(ctx context.Context, out chan<- daemon.Observation) error {
	for _, o := range s {
		select {
		case out <- o:
		case <-ctx.Done():
			return nil
		}
	}
	<-ctx.Done()
	return nil
}

// The whole path in one process: a packet-level observation → a policy breach →
// the alert stored → a webhook post to the school's Teams-style receiver, with
// the clause and without the device's MAC (the default).
func TestAlertReachesWebhook(t *testing.T) {
	var mu sync.Mutex
	var bodies []map[string]any
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err == nil {
			mu.Lock()
			bodies = append(bodies, m)
			mu.Unlock()
		}
	}))
	defer recv.Close()
	dir := t.TempDir()
	cfgText := fmt.Sprintf(`school: {name: Test School, site_id: test}
timezone: Europe/London
interfaces: [{name: hmtest-absent0}]
zones:
  - {name: classroom-12, type: teaching, subnets: [10.30.12.0/24]}
roles: [{role: pupil, vlans: [30]}]
rules:
  - name: pupil-device-beyond-reception
    when: {roles: [pupil], managed: false, not_zone_types: [reception]}
    then: {action: alert, severity: high, clauses: [OSS-2.1], message: Pupil's personal device beyond reception.}
default: {action: allow, message: No rule applies.}
alerting:
  dashboard_url: https://hallmonitor.test/
  webhooks: [{name: dsl-hook, kind: generic, url: %q}]
  routes: {"*": [dsl-hook]}
storage: {data_dir: %s}
`, recv.URL, dir)
	cfg, err := config.Parse(filepath.Join(dir, "hallmonitor.yaml"), []byte(cfgText))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	mac := "da:a1:19:00:00:77"
	src := oneShot{{At: time.Now(), Kind: daemon.ObsDHCP, MAC: mac, VLAN: 30, IP: netip.MustParseAddr("10.30.12.7"),
		DHCP: &fingerprint.DHCP{MessageType: 3, VendorClass: "android-dhcp-14", Hostname: "Pixel-8"}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, serveOpts{cfg: cfg, log: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)), sources: map[string]daemon.Source{"test": src},
			listen: "127.0.0.1:0", notifier: nil})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(bodies)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no webhook post within 10 s of the breach")
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 {
		t.Fatalf("%d posts, want exactly 1", len(bodies))
	}
	b, _ := json.Marshal(bodies[0])
	alert, _ := bodies[0]["alert"].(map[string]any)
	if alert == nil || alert["rule"] != "pupil-device-beyond-reception" {
		t.Fatalf("post %s lacks the alert", b)
	}
	if clauses, _ := alert["clauses"].([]any); len(clauses) == 0 || clauses[0] != "OSS-2.1" {
		t.Errorf("post %s lacks the clause", b)
	}
	if strings.Contains(string(b), mac) {
		t.Errorf("the webhook carries the device MAC without include_device: %s", b)
	}
}
