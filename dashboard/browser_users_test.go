package dashboard

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hallmonitor/hallmonitor/daemon"
)

// browserLogin opens path signed out, logs in through the form and waits for ready.
func browserLogin(t *testing.T, ctx context.Context, f *fixture, path, user, pw, ready string) {
	t.Helper()
	step(t, ctx, 15*time.Second, "open "+path+" signed out",
		chromedp.Navigate(f.http.URL+path),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
	step(t, ctx, 15*time.Second, "log in as "+user,
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), pw),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID(ready)),
	)
	if loc := value(t, ctx, "location", chromedp.Location()); !strings.HasPrefix(loc, f.http.URL+path) {
		t.Fatalf("after login the browser is at %s, want %s", loc, path)
	}
}

// everyFieldLabelled reports the form fields on the page without a label.
const unlabelledFields = `[...document.querySelectorAll('input:not([type="hidden"]), select, textarea')]
	.filter(e => !(e.labels && e.labels.length > 0) && !e.getAttribute('aria-label')).map(e => e.id || e.name).join(',')`

// checkPage checks that every field has a label and that at phone width (390
// px) the page does not scroll sideways, keeping desktop and phone screenshots.
func checkPage(t *testing.T, ctx context.Context, what, shot string) {
	t.Helper()
	if bad := value(t, ctx, "labels", chromedp.Evaluate[string](unlabelledFields)); bad != "" {
		t.Errorf("%s: fields without a label: %s", what, bad)
	}
	keepScreenshot(t, value(t, ctx, "screenshot", chromedp.CaptureScreenshot()), shot+".png")
	step(t, ctx, 10*time.Second, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	if !value(t, ctx, "page width", chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth + 1`)) {
		w := value(t, ctx, "scroll width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		t.Errorf("%s: on a 390px-wide phone the page is %dpx wide: it scrolls sideways", what, w)
	}
	keepScreenshot(t, value(t, ctx, "phone screenshot", chromedp.CaptureScreenshot()), shot+"-phone.png")
	step(t, ctx, 10*time.Second, "desktop viewport", chromedp.EmulateViewport(1280, 900))
}

// TestBrowserDSLResolvesAlert: the DSL opens an alert's page, acknowledges it,
// then resolves it with an outcome and a note; the page shows it resolved.
func TestBrowserDSLResolvesAlert(t *testing.T) {
	f, _, _ := newFullFixture(t)
	ctx := startBrowser(t)
	stopConsole := consoleErrors(ctx)
	browserLogin(t, ctx, f, "/alerts/"+alertID, dslUser, dslPassword, "alert-history")
	if st := value(t, ctx, "state", chromedp.Text(chromedp.ID("alert-state"))); st != daemon.AlertNew {
		t.Fatalf("alert state on the page = %q, want new", st)
	}
	if ch := value(t, ctx, "deliveries", chromedp.Text(chromedp.CSS(`#delivery-table tbody tr`))); !strings.Contains(ch, "dsl-email") || !strings.Contains(ch, "delivered") {
		t.Errorf("delivery status row = %q, want dsl-email delivered", ch)
	}

	step(t, ctx, 15*time.Second, "acknowledge",
		chromedp.SendKeys(chromedp.ID("ack-note"), "Head of year informed"),
		chromedp.Click(chromedp.CSS(`form[data-form="ack"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`h1.state-acknowledged`)),
	)
	if a := f.store.alert(alertID); a.State != daemon.AlertAcknowledged || a.AcknowledgedBy != dslUser {
		t.Errorf("after acknowledging: state %q by %q", a.State, a.AcknowledgedBy)
	}
	if n := value(t, ctx, "ack form", chromedp.Evaluate[int](`document.querySelectorAll('form[data-form="ack"]').length`)); n != 0 {
		t.Error("the acknowledged alert still offers Acknowledge")
	}

	step(t, ctx, 15*time.Second, "resolve",
		chromedp.SetValue(chromedp.ID("outcome"), "handed-in"),
		chromedp.SendKeys(chromedp.ID("resolve-note"), "Phone handed in to reception"),
		chromedp.Click(chromedp.CSS(`form[data-form="resolve"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`h1.state-resolved`)),
	)
	if st := value(t, ctx, "state", chromedp.Text(chromedp.ID("alert-state"))); st != daemon.AlertResolved {
		t.Errorf("alert state on the page = %q, want resolved", st)
	}
	hist := value(t, ctx, "history", chromedp.Text(chromedp.ID("alert-history")))
	for _, want := range []string{"Acknowledged by dsl", "Resolved by dsl", "Outcome: Device handed in", "Phone handed in to reception"} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
	if a := f.store.alert(alertID); a.State != daemon.AlertResolved || a.Outcome != "handed-in" || a.ResolvedBy != dslUser || a.Note != "Phone handed in to reception" {
		t.Errorf("after resolving: state %q outcome %q by %q note %q", a.State, a.Outcome, a.ResolvedBy, a.Note)
	}
	if n := value(t, ctx, "forms", chromedp.Evaluate[int](`document.querySelectorAll('form[data-form="resolve"]').length`)); n != 0 {
		t.Error("the resolved alert still offers Resolve")
	}
	checkPage(t, ctx, "resolved alert page", "dashboard-alert-resolved")
	if errs := stopConsole(); len(errs) > 0 {
		t.Errorf("the page logged errors (a CSP violation or a script error):\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserSLTGrantsExemption: a senior leader grants an exemption through the
// register's form and sees it listed as active. (The SLT's report download is
// TestBrowserSLTReport.)
func TestBrowserSLTGrantsExemption(t *testing.T) {
	f, _, _ := newFullFixture(t)
	reg := f.srv.exemptions.(*fakeRegister)
	ctx := startBrowser(t)
	stopConsole := consoleErrors(ctx)
	browserLogin(t, ctx, f, "/exemptions", sltUser, sltPass, "grant-form")

	// The fixture's clock is 12 March 2025 10:15 UTC: "from" starts there.
	step(t, ctx, 15*time.Second, "fill in and send the grant form",
		chromedp.SendKeys(chromedp.ID("ex-person"), "J. Smith"),
		chromedp.SendKeys(chromedp.ID("ex-zones"), "library"),
		chromedp.SetValue(chromedp.ID("ex-until"), "2025-03-14T16:00"),
		chromedp.SetValue(chromedp.ID("ex-reason"), "individual-support"),
		chromedp.SendKeys(chromedp.ID("ex-approver"), "Headteacher"),
		chromedp.SendKeys(chromedp.ID("ex-note"), "Glucose monitor app"),
		chromedp.Click(chromedp.CSS(`#grant-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("exemption-granted")),
	)
	var granted daemon.Exemption
	es, _ := reg.ListExemptions(context.Background())
	for _, e := range es {
		if e.Person == "J. Smith" {
			granted = e
		}
	}
	if granted.ID == "" || granted.CreatedBy != sltUser || granted.Reason != "individual-support" ||
		!granted.Until.Equal(time.Date(2025, 3, 14, 16, 0, 0, 0, time.UTC)) || strings.Join(granted.Zones, ",") != "library" {
		t.Fatalf("granted exemption = %+v", granted)
	}
	row := value(t, ctx, "active row", chromedp.Evaluate[string](
		`(document.querySelector('#ex-active tr[data-id="`+granted.ID+`"]') || {}).innerText || ""`))
	for _, want := range []string{"J. Smith", "library", "individual-support", "Headteacher", "granted by slt"} {
		if !strings.Contains(row, want) {
			t.Errorf("the active row lacks %q: %q", want, row)
		}
	}
	checkPage(t, ctx, "exemptions page after a grant", "dashboard-exemption-granted")
	if errs := stopConsole(); len(errs) > 0 {
		t.Errorf("the page logged errors (a CSP violation or a script error):\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserAdminAddsUser: an admin adds a DSL account on /users, submitting
// with the keyboard, and sees it in the list.
func TestBrowserAdminAddsUser(t *testing.T) {
	f, _, _ := newFullFixture(t)
	ctx := startBrowser(t)
	stopConsole := consoleErrors(ctx)
	browserLogin(t, ctx, f, "/users", adminUser, adminPass, "users-table")
	if !value(t, ctx, "nav", chromedp.Evaluate[bool](`!!document.querySelector('nav a[href="/users"][aria-current="page"]')`)) {
		t.Error("the admin's navigation lacks the current Users link")
	}

	const pw = "Welcome to HallMonitor 1"
	step(t, ctx, 15*time.Second, "add r.patel as dsl",
		chromedp.SendKeys(chromedp.ID("new-name"), "r.patel"),
		chromedp.SetValue(chromedp.ID("new-role"), daemon.RoleDSL),
		chromedp.SendKeys(chromedp.ID("new-password"), pw),
		chromedp.SendKeys(chromedp.ID("new-password-again"), pw+"\r"), // Enter submits the form
		chromedp.WaitVisible(chromedp.ID("users-done")),
	)
	done := value(t, ctx, "confirmation", chromedp.Text(chromedp.ID("users-done")))
	if done != "The account r.patel was created." {
		t.Errorf("confirmation = %q", done)
	}
	row := value(t, ctx, "new row", chromedp.Evaluate[string](
		`(document.querySelector('#users-table tr[data-name="r.patel"][data-role="dsl"][data-disabled="false"]') || {}).innerText || ""`))
	if !strings.Contains(row, "r.patel") || !strings.Contains(row, "never") || !strings.Contains(row, "enabled") {
		t.Errorf("users table row for r.patel = %q, want a dsl, enabled, never signed in", row)
	}
	if u, ok := f.store.user("r.patel"); !ok || u.Role != daemon.RoleDSL || !CheckPassword(u.PasswordHash, pw) {
		t.Errorf("stored r.patel = %+v (found %t)", u, ok)
	}
	if got := f.store.lastAudit(); got != "admin user.create r.patel →dsl" {
		t.Errorf("audit = %q", got)
	}
	checkPage(t, ctx, "users page", "dashboard-users")
	if errs := stopConsole(); len(errs) > 0 {
		t.Errorf("the page logged errors (a CSP violation or a script error):\n%s", strings.Join(errs, "\n"))
	}
}
