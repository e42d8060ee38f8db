package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds hallmonitor once per test run into a temporary directory.
var buildOnce struct {
	sync.Once
	path string
	err  error
}

func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hallmonitor-bin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "hallmonitor")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, ".").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildOnce.path != "" {
		os.RemoveAll(filepath.Dir(buildOnce.path))
	}
	os.Exit(code)
}

// lineWatcher collects a process's stderr and waits for lines.
type lineWatcher struct {
	mu    sync.Mutex
	lines []string
	more  chan struct{}
}

func watch(r io.Reader) *lineWatcher {
	w := &lineWatcher{more: make(chan struct{}, 1)}
	go func() { // owned by the process: ends at its stderr's EOF
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			w.mu.Lock()
			w.lines = append(w.lines, sc.Text())
			w.mu.Unlock()
			select {
			case w.more <- struct{}{}:
			default:
			}
		}
	}()
	return w
}

func (w *lineWatcher) waitFor(t *testing.T, substr string, after int) int {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		w.mu.Lock()
		for i := after; i < len(w.lines); i++ {
			if strings.Contains(w.lines[i], substr) {
				w.mu.Unlock()
				return i + 1
			}
		}
		all := strings.Join(w.lines, "\n")
		w.mu.Unlock()
		select {
		case <-w.more:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no log line with %q within 15 s; log:\n%s", substr, all)
		}
	}
}

// The daemon as an admin runs it: a real process, SIGHUP with a broken file keeps
// the last good configuration (and says why, with positions), a good file is taken,
// SIGTERM stops it cleanly.
func TestRunSurvivesBadReloadAndStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	bin := binary(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hallmonitor.yaml")
	good := strings.Replace(string(mustReadFile(t, "../../deploy/examples/hallmonitor.yaml")),
		"data_dir: /var/lib/hallmonitor", "data_dir: "+filepath.Join(dir, "data"), 1)
	good = noInterfaces(good)
	if err := os.WriteFile(cfgPath, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "--config", cfgPath, "--listen", addr)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { // end the process we started, by PID, also on failure
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	w := watch(stderr)
	n := w.waitFor(t, "HallMonitor running", 0)
	healthy := func() int {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := healthy(); code != 200 {
		t.Fatalf("/healthz = %d, want 200", code)
	}

	// A broken file: an unknown key and a bad enforcement mode.
	bad := strings.Replace(good, "enforcement:", "enforcment_typo: 1\nenforcement:", 1)
	if err := os.WriteFile(cfgPath, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	n = w.waitFor(t, "reload refused", n)
	w.mu.Lock()
	refused := w.lines[n-1]
	w.mu.Unlock()
	if !strings.Contains(refused, cfgPath+":") || !strings.Contains(refused, "enforcment_typo") {
		t.Errorf("the refusal does not say where and what: %s", refused)
	}
	if code := healthy(); code != 200 {
		t.Fatalf("after a bad reload /healthz = %d, want 200 (last good config kept)", code)
	}

	if err := os.WriteFile(cfgPath, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	n = w.waitFor(t, "configuration reloaded", n)
	w.mu.Lock()
	applied := w.lines[n-1]
	w.mu.Unlock()
	if strings.Contains(applied, "restart") {
		t.Errorf("the same file reloaded asks for a restart: %s", applied)
	}

	// A section a reload does not apply (enforcement's safety valve): the
	// reload says so and names it, rather than "reloaded" alone.
	valve := strings.Replace(good, "max_block_share: 0.3", "max_block_share: 0.25", 1)
	if valve == good {
		t.Fatal("the example configuration has no max_block_share: 0.3 to change")
	}
	if err := os.WriteFile(cfgPath, []byte(valve), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	n = w.waitFor(t, "take effect only after a restart", n)
	w.mu.Lock()
	pending := w.lines[n-1]
	w.mu.Unlock()
	if !strings.Contains(pending, "enforcement") || strings.Contains(pending, "alerting") {
		t.Errorf("the reload names the wrong sections: %s", pending)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v, want status 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("daemon did not stop within 15 s of SIGTERM")
	}
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// noInterfaces points capture at an interface that does not exist: the daemon must
// run (and wait for it, re-opening with backoff) without touching the host's own
// interfaces.
func noInterfaces(cfg string) string {
	return strings.Replace(cfg, "  - name: eth1 ", "  - name: hmtest-absent0 ", 1)
}
