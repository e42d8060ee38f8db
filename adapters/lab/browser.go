package lab

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// StartBrowser starts headless Chromium (Debian's chromium) for a test and kills
// it in t.Cleanup. Tests point it only at servers on 127.0.0.1. It skips (or, with
// HALLMONITOR_REQUIRE_LAB=1, fails) when chromium is missing.
func StartBrowser(t testing.TB) context.Context {
	t.Helper()
	exec := RequireTools(t, "chromium")[0]
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exec),
		chromedp.Headless,
		chromedp.NoSandbox, // we run as root in the lab container
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	// Every browser step is bounded by its caller; this bounds the whole browser's life too.
	life, cancelLife := context.WithTimeout(context.Background(), 3*time.Minute)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(life, opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc() // kills the browser process and waits for it
		cancelLife()
	})
	// The first Do starts the browser and opens a tab; its context must live as long
	// as the browser (a cancelled first context closes it), so the bound is life's.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}
