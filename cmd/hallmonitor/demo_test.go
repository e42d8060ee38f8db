package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/rules/policy"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func getJSON(url, token string, v any) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || v == nil {
		return resp.StatusCode, nil
	}
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
}

// The foundation's acceptance test: `hallmonitor demo --for 60s --listen ADDR
// --api-token T` serves, within 40 s, at least 300 devices (each with a kind and a
// zone) and at least one alert citing a clause ID, with the token; 401 without it.
func TestDemoServesDevicesAndAlertsWithin40s(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo acceptance test runs for up to 40 s")
	}
	addr := freeAddr(t)
	base := "http://" + addr
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- demo(ctx, demoOpts{listen: addr, runFor: 60 * time.Second, speed: 120, apiToken: "T",
			password: "demo-password", seed: 1, devices: 320, log: zap.NewNop(), stdout: &out})
	}()

	deadline := time.Now().Add(40 * time.Second)
	var devices []daemon.Device
	var alerts []daemon.Alert
	for {
		if time.Now().After(deadline) {
			t.Fatalf("after 40 s: %d devices (%d complete), %d alerts citing a clause; want >= 300 and >= 1",
				len(devices), complete(devices), citing(alerts))
		}
		select {
		case err := <-done:
			t.Fatalf("demo ended early: %v\n%s", err, out.String())
		case <-time.After(500 * time.Millisecond):
		}
		devices, alerts = nil, nil
		if code, err := getJSON(base+"/api/v1/devices", "T", &devices); err != nil || code != 200 {
			continue
		}
		if code, err := getJSON(base+"/api/v1/alerts", "T", &alerts); err != nil || code != 200 {
			continue
		}
		if complete(devices) >= 300 && citing(alerts) >= 1 {
			break
		}
	}
	t.Logf("devices=%d alerts=%d after %.1fs", len(devices), len(alerts), 40-time.Until(deadline).Seconds())
	for _, a := range alerts {
		for _, c := range a.Clauses {
			if !policy.IsClause(c) {
				t.Errorf("alert %s cites %q, not a clause of the policy catalogue", a.ID, c)
			}
		}
	}
	kinds := map[string]int{}
	for _, d := range devices {
		kinds[d.Kind]++
	}
	// (The Kindle is recognised later in the day, once it has asked for its
	// time server; adapters/simulate's accuracy test checks the whole day.)
	for _, k := range []string{"phone", "laptop", "tablet", "smartwatch", "games-console"} {
		if kinds[k] == 0 {
			t.Errorf("no %s among the demo's devices (kinds: %v)", k, kinds)
		}
	}
	for _, path := range []string{"/api/v1/devices", "/api/v1/alerts"} {
		if code, _ := getJSON(base+path, "", nil); code != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %d, want 401", path, code)
		}
		if code, _ := getJSON(base+path, "wrong", nil); code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d, want 401", path, code)
		}
	}
	// `hallmonitor zones` against the running demo: who is where now.
	var zout, zerr bytes.Buffer
	if code := runZones(context.Background(), []string{"--url", base, "--token", "T"}, &zout, &zerr); code != 0 {
		t.Fatalf("zones exit %d: %s", code, zerr.String())
	}
	for _, want := range []string{"ZONE", "reception", "teaching", "phone"} {
		if !strings.Contains(zout.String(), want) {
			t.Errorf("zones output lacks %q:\n%s", want, zout.String())
		}
	}
	if !strings.Contains(out.String(), base) || !strings.Contains(out.String(), "admin / demo-password") {
		t.Errorf("demo did not print its URL and login:\n%s", out.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo stopped with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("demo did not stop within 10 s of cancellation")
	}
	dataDir := between(out.String(), "Data:      ", " (removed on exit)")
	if _, err := os.Stat(dataDir); dataDir == "" || !os.IsNotExist(err) {
		t.Errorf("demo data directory %q still exists after exit", dataDir)
	}
}

func complete(devs []daemon.Device) int {
	n := 0
	for _, d := range devs {
		if d.Kind != "" && d.Zone != "" {
			n++
		}
	}
	return n
}

func citing(alerts []daemon.Alert) int {
	n := 0
	for _, a := range alerts {
		if slices.ContainsFunc(a.Clauses, policy.IsClause) {
			n++
		}
	}
	return n
}

func between(s, a, b string) string {
	_, rest, ok := strings.Cut(s, a)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, b)
	return v
}
