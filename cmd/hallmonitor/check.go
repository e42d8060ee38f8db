package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hallmonitor/hallmonitor/daemon/config"
)

func init() {
	register("check", "validate a configuration file and list every error", runCheck)
}

// runCheck validates --config: exit 0 with a one-line summary, or 1 with every error
// on stderr, one per line, as FILE:LINE:COL: message.
func runCheck(_ context.Context, args []string, stdout, stderr io.Writer) int {
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
	fmt.Fprintf(stdout, "%s: ok (%d zones, %d rules, %d register entries)\n", *path,
		len(cfg.Policy.Zones()), len(cfg.Policy.Rules()), len(cfg.Policy.RegisterEntries()))
	return 0
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
