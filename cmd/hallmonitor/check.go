package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hallmonitor/hallmonitor/daemon/config"
)

func init() {
	register("check", "validate a configuration file and list every error", runCheck)
}

// runCheck validates --config: exit 0 with a one-line summary, or 1 with every error
// on stderr, one per line, as FILE:LINE:COL: message. Warnings (overlapping zones,
// unreachable rules, an overdue policy review) go to stderr as
// FILE:LINE:COL: warning: message and do not fail the check.
func runCheck(_ context.Context, args []string, stdout, stderr io.Writer) int {
	return check(args, stdout, stderr, time.Now())
}

// check is runCheck at a given instant (the policy review date is compared with now).
func check(args []string, stdout, stderr io.Writer, now time.Time) int {
	fs := newFlags("check", "--config FILE", stdout, stderr)
	path := fs.String("config", "/etc/hallmonitor/hallmonitor.yaml", "configuration file to validate")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hallmonitor check: unexpected argument %q (use --config FILE)\n", fs.Arg(0))
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	warnings := cfg.Warnings(now)
	printWarnings(stderr, warnings)
	summary := fmt.Sprintf("%s: ok (%d zones, %d rules, %d register entries)", *path,
		len(cfg.Policy.Zones()), len(cfg.Policy.Rules()), len(cfg.Policy.RegisterEntries()))
	if n := len(cfg.Policy.Modes()); n > 0 {
		summary = strings.TrimSuffix(summary, ")") + fmt.Sprintf(", %d modes)", n)
	}
	if len(warnings) > 0 {
		summary += fmt.Sprintf(", %d warning%s", len(warnings), plural(len(warnings)))
	}
	fmt.Fprintln(stdout, summary)
	return 0
}

// printWarnings prints configuration warnings one per line as FILE:LINE:COL: warning: message.
func printWarnings(w io.Writer, warnings []config.Error) {
	for _, e := range warnings {
		fmt.Fprintf(w, "%s:%d:%d: warning: %s\n", e.File, e.Line, e.Col, e.Msg)
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// printConfigError prints a configuration's errors one per line.
func printConfigError(w io.Writer, err error) {
	var es config.Errors
	if errors.As(err, &es) {
		for _, e := range es {
			fmt.Fprintln(w, e.Error())
		}
		return
	}
	fmt.Fprintln(w, err)
}
