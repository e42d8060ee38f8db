package dashboard

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/hallmonitor/hallmonitor/adapters/lab"
	"github.com/hallmonitor/hallmonitor/daemon"
)

// startBrowser starts headless Chromium for the test (lab.StartBrowser). The
// browser only ever visits the httptest server on 127.0.0.1.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	return lab.StartBrowser(t)
}

// step runs browser actions bounded by d.
func step(t *testing.T, ctx context.Context, d time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: not done within %v", what, d)
		}
		t.Fatalf("%s: %v", what, err)
	}
}

func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// consoleErrors records the page's console errors and uncaught exceptions (a CSP
// violation shows up here) until the returned func is called.
func consoleErrors(ctx context.Context) func() []string {
	c, cancel := context.WithCancel(ctx)
	msgs := chromedp.Console(c)
	var (
		mu   sync.Mutex
		errs []string
		done = make(chan struct{})
	)
	go func() { // owned by the returned func: ends when c is cancelled
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type != chromedp.ConsoleError && !m.IsException() {
				continue
			}
			if strings.Contains(m.Text, "favicon.ico") || strings.Contains(m.URL, "favicon.ico") {
				continue
			}
			mu.Lock()
			errs = append(errs, m.String())
			mu.Unlock()
		}
	}()
	return func() []string {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return errs
	}
}

func TestBrowserLoginAndLiveAlert(t *testing.T) {
	f := newFixture(t, nil)
	ctx := startBrowser(t)
	stopConsole := consoleErrors(ctx)

	// Signed out: the dashboard sends the browser to the login form.
	step(t, ctx, 15*time.Second, "open the dashboard",
		chromedp.Navigate(f.http.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
	loc := value(t, ctx, "location", chromedp.Location())
	if want := f.http.URL + "/login?next=" + url.QueryEscape("/"); loc != want {
		t.Fatalf("signed-out browser is at %s, want %s", loc, want)
	}

	// Log in through the form, as a DSL would.
	step(t, ctx, 15*time.Second, "log in",
		chromedp.SendKeys(chromedp.ID("username"), dslUser),
		chromedp.SendKeys(chromedp.ID("password"), dslPassword),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("alerts-table")),
	)
	if loc := value(t, ctx, "location", chromedp.Location()); loc != f.http.URL+"/alerts" {
		t.Fatalf("after login the browser is at %s, want /alerts", loc)
	}
	step(t, ctx, 10*time.Second, "live updates connect",
		chromedp.WaitVisible(chromedp.CSS(`body[data-live="open"]`), chromedp.NodeReady),
	)
	f.live.waitSubscribers(t, 1)
	// A marker that a reload would wipe out.
	value(t, ctx, "mark page", chromedp.Evaluate[bool](`window.hmNoReload = true`))

	// The daemon commits a new alert: it must appear at the top within seconds.
	a := sampleAlert("01JEEEEEEEEEEEEEEEEEEEEEEE", f.clock.Now(), "Smartwatch seen in exam room 3 during a GCSE paper.")
	a.Severity, a.Zone, a.Clauses = "critical", "exam-room-3", []string{"OSS-5"}
	a.Device.Kind, a.Device.OS = "smartwatch", "watchos"
	f.store.putAlert(a)
	f.live.publish(daemon.Event{Type: "alert.opened", Alert: &a})
	row := chromedp.ID("alert-" + a.ID)
	step(t, ctx, 10*time.Second, "new alert row appears", chromedp.WaitVisible(row))

	reason := value(t, ctx, "reason", chromedp.Text(chromedp.CSS(`#alert-`+a.ID+` [data-f="reason"]`)))
	if reason != a.Reason {
		t.Errorf("row reason %q, want %q", reason, a.Reason)
	}
	if first := value(t, ctx, "first row", chromedp.Evaluate[string](`document.querySelector("#alert-rows tr").id`)); first != "alert-"+a.ID {
		t.Errorf("first row is %s, want the new alert at the top", first)
	}
	if !value(t, ctx, "no reload", chromedp.Evaluate[bool](`window.hmNoReload === true`)) {
		t.Error("the page reloaded to show the alert")
	}
	clauses := value(t, ctx, "clauses", chromedp.Text(chromedp.CSS(`#alert-`+a.ID+` [data-f="clauses"]`)))
	if clauses != "OSS-5" {
		t.Errorf("row clauses %q, want OSS-5", clauses)
	}

	// The live row's Acknowledge form works: right action URL, CSRF token included.
	step(t, ctx, 15*time.Second, "acknowledge from the live row",
		chromedp.SendKeys(chromedp.ID("ack-note-"+a.ID), "Exams officer informed"),
		chromedp.Click(chromedp.CSS(`#alert-`+a.ID+` form[data-form="ack"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#alert-`+a.ID+`[data-state="acknowledged"]`)),
	)
	if got := f.store.alert(a.ID); got.State != daemon.AlertAcknowledged || got.AcknowledgedBy != dslUser || got.Note != "Exams officer informed" {
		t.Errorf("after the browser acknowledged: state %q by %q note %q", got.State, got.AcknowledgedBy, got.Note)
	}

	if errs := stopConsole(); len(errs) > 0 {
		t.Errorf("the page logged errors (a CSP violation or a script error):\n%s", strings.Join(errs, "\n"))
	}

	shot := value(t, ctx, "screenshot", chromedp.CaptureScreenshot())
	path := filepath.Join(t.TempDir(), "alerts.png")
	if err := os.WriteFile(path, shot, 0o600); err != nil {
		t.Fatalf("write screenshot: %v", err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(shot))
	if err != nil || cfg.Width == 0 || cfg.Height == 0 {
		t.Fatalf("screenshot is not a non-empty PNG (%d bytes): %v", len(shot), err)
	}
	t.Logf("screenshot %s: %dx%d", path, cfg.Width, cfg.Height)
	if dir := os.Getenv("HALLMONITOR_SCREENSHOT_DIR"); dir != "" { // keep it for a person to look at
		if err := os.WriteFile(filepath.Join(dir, "dashboard-alerts.png"), shot, 0o600); err != nil {
			t.Errorf("keep screenshot: %v", err)
		}
	}

	// On a phone-sized screen the alerts page must not need sideways scrolling.
	step(t, ctx, 10*time.Second, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	if wide := value(t, ctx, "page width", chromedp.Evaluate[bool](
		`document.documentElement.scrollWidth <= window.innerWidth + 1`)); !wide {
		w := value(t, ctx, "scroll width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		t.Errorf("on a 390px-wide phone the page is %dpx wide: it scrolls sideways", w)
	}
	if dir := os.Getenv("HALLMONITOR_SCREENSHOT_DIR"); dir != "" {
		phone := value(t, ctx, "phone screenshot", chromedp.CaptureScreenshot())
		if err := os.WriteFile(filepath.Join(dir, "dashboard-alerts-phone.png"), phone, 0o600); err != nil {
			t.Errorf("keep screenshot: %v", err)
		}
	}
}

// keepScreenshot writes a PNG to t.TempDir() and, when HALLMONITOR_SCREENSHOT_DIR is
// set, keeps a copy there under name for a person to look at.
func keepScreenshot(t *testing.T, shot []byte, name string) {
	t.Helper()
	cfg, err := png.DecodeConfig(bytes.NewReader(shot))
	if err != nil || cfg.Width == 0 || cfg.Height == 0 {
		t.Fatalf("%s: screenshot is not a non-empty PNG (%d bytes): %v", name, len(shot), err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, shot, 0o600); err != nil {
		t.Fatalf("write screenshot: %v", err)
	}
	t.Logf("screenshot %s: %dx%d", path, cfg.Width, cfg.Height)
	if dir := os.Getenv("HALLMONITOR_SCREENSHOT_DIR"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, name), shot, 0o600); err != nil {
			t.Errorf("keep screenshot: %v", err)
		}
	}
}

// TestBrowserSLTReport: a senior leader logs in, opens Reports and downloads the
// day's PDF; the dashboard answers application/pdf and the file is a PDF.
func TestBrowserSLTReport(t *testing.T) {
	f, _, rep := newFullFixture(t)
	ctx := startBrowser(t)
	stopConsole := consoleErrors(ctx)

	step(t, ctx, 15*time.Second, "open reports signed out",
		chromedp.Navigate(f.http.URL+"/reports"),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
	step(t, ctx, 15*time.Second, "log in as SLT",
		chromedp.SendKeys(chromedp.ID("username"), sltUser),
		chromedp.SendKeys(chromedp.ID("password"), sltPass),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("report-form")),
	)
	if loc := value(t, ctx, "location", chromedp.Location()); loc != f.http.URL+"/reports" {
		t.Fatalf("after login the browser is at %s, want /reports", loc)
	}
	if !value(t, ctx, "nav", chromedp.Evaluate[bool](
		`!document.querySelector('nav a[href="/audit"]') && !!document.querySelector('nav a[href="/reports"][aria-current="page"]') && !document.getElementById("unmask")`)) {
		t.Error("SLT navigation: want Reports (current), no Audit link and no unmask option")
	}
	keepScreenshot(t, value(t, ctx, "screenshot", chromedp.CaptureScreenshot()), "dashboard-reports.png")

	// Record the report response as the browser saw it.
	type seen struct {
		status int64
		mime   string
	}
	responses := make(chan seen, 8)
	lctx, stopListen := context.WithCancel(ctx)
	defer stopListen()
	if err := chromedp.Listen(lctx, func(ev any) {
		if e, ok := ev.(*network.EventResponseReceived); ok && e.Response != nil && strings.Contains(e.Response.URL, "/reports/daily") {
			select {
			case responses <- seen{e.Response.Status, e.Response.MimeType}:
			default:
			}
		}
	}); err != nil {
		t.Fatalf("listen: %v", err)
	}
	dir := t.TempDir()
	pctx, stopProgress := context.WithTimeout(ctx, 20*time.Second)
	defer stopProgress()
	progress := chromedp.Events(pctx, cdpbrowser.DownloadProgress)
	enabled := true
	step(t, ctx, 15*time.Second, "download the PDF",
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
				Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &enabled,
			})
			return err
		}),
		chromedp.Click(chromedp.ID("download-pdf")),
	)
	var file string
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("no completed download within 20s: %v", err)
		}
		if ev.State == cdpbrowser.DownloadProgressStateCanceled {
			t.Fatal("the browser cancelled the download")
		}
		if ev.State == cdpbrowser.DownloadProgressStateCompleted {
			file = filepath.Join(dir, ev.GUID)
			break
		}
	}
	select {
	case r := <-responses:
		if r.status != 200 || r.mime != "application/pdf" {
			t.Errorf("report response %d %q, want 200 application/pdf", r.status, r.mime)
		}
	case <-time.After(5 * time.Second):
		t.Error("the browser saw no /reports/daily response")
	}
	b, err := os.ReadFile(file)
	if err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) {
		t.Errorf("downloaded file %s: %v, starts %q", file, err, b[:min(len(b), 8)])
	}
	if got := rep.last(); got != "2025-03-12 pdf unmask=false" {
		t.Errorf("renderer asked for %q, want today's pseudonymised PDF", got)
	}

	step(t, ctx, 10*time.Second, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	if !value(t, ctx, "page width", chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth + 1`)) {
		t.Error("on a 390px-wide phone the reports page scrolls sideways")
	}
	keepScreenshot(t, value(t, ctx, "phone screenshot", chromedp.CaptureScreenshot()), "dashboard-reports-phone.png")
	// The other pages an SLT user reaches fit the phone too.
	for _, pg := range []struct{ path, ready, shot string }{
		{"/zones", "zones-table", "dashboard-zones-phone.png"},
		{"/alerts/" + alertID, "alert-history", "dashboard-alert-phone.png"},
		{"/exemptions", "grant-form", "dashboard-exemptions-phone.png"},
	} {
		step(t, ctx, 15*time.Second, "open "+pg.path,
			chromedp.Navigate(f.http.URL+pg.path), chromedp.WaitVisible(chromedp.ID(pg.ready)))
		if !value(t, ctx, "page width", chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth + 1`)) {
			t.Errorf("on a 390px-wide phone %s scrolls sideways", pg.path)
		}
		keepScreenshot(t, value(t, ctx, "phone screenshot", chromedp.CaptureScreenshot()), pg.shot)
	}
	if errs := stopConsole(); len(errs) > 0 {
		t.Errorf("the page logged errors (a CSP violation or a script error):\n%s", strings.Join(errs, "\n"))
	}
}
