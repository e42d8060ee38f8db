package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/adapters/capture"
	"github.com/hallmonitor/hallmonitor/adapters/firewall"
	"github.com/hallmonitor/hallmonitor/adapters/sdnotify"
	"github.com/hallmonitor/hallmonitor/adapters/simulate"
	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/daemon/config"
	"github.com/hallmonitor/hallmonitor/dashboard"
	"github.com/hallmonitor/hallmonitor/rules/calendar"
)

func init() {
	register("demo", "run a simulated school day (monitor-only, no root) with the dashboard", runDemo)
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", "[--listen ADDR] [--for DURATION] [--speed N] [--api-token TOKEN] [--password P]", stdout, stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "dashboard address")
	runFor := fs.Duration("for", 0, "exit after this long (0: until interrupted)")
	speed := fs.Float64("speed", 120, "simulated seconds per real second (120: the school day in about 4 minutes)")
	apiToken := fs.String("api-token", "", "also accept this bearer token for the JSON API (/api/v1)")
	password := fs.String("password", "", "password of the demo 'admin' login (random when empty)")
	seed := fs.Int64("seed", 1, "simulation seed (same seed, same school day)")
	devices := fs.Int("devices", 320, "number of simulated devices (at least 300)")
	dayFlag := fs.String("day", "", "simulated school day YYYY-MM-DD (default: the next school day in the demo calendar)")
	savePcap := fs.String("save-pcap", "", "also write the simulated day's packets to this pcap file and continue")
	logLevel := fs.String("log-level", "info", "log level (debug, info, warn, error)")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if *speed <= 0 {
		fmt.Fprintln(stderr, "demo: --speed must be positive")
		return 2
	}
	log, err := newLogger(os.Stderr, "auto", *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	if err := demo(ctx, demoOpts{
		listen: *listen, runFor: *runFor, speed: *speed, apiToken: *apiToken, password: *password,
		seed: *seed, devices: *devices, day: *dayFlag, savePcap: *savePcap, log: log, stdout: stdout,
	}); err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	return 0
}

type demoOpts struct {
	listen, apiToken, password, day, savePcap string
	runFor                                    time.Duration
	speed                                     float64
	seed                                      int64
	devices                                   int
	log                                       *zap.Logger
	stdout                                    io.Writer
}

func demo(ctx context.Context, o demoOpts) error {
	cfg, err := config.Parse("demo-school.yaml", simulate.Embedded())
	if err != nil {
		return fmt.Errorf("embedded demo configuration: %w", err)
	}
	dir, err := os.MkdirTemp("", "hallmonitor-demo-")
	if err != nil {
		return fmt.Errorf("temporary data directory: %w", err)
	}
	defer os.RemoveAll(dir)
	cfg.Storage.DataDir = dir
	cfg.Enforcement.Mode = "monitor" // the demo never enforces

	loc := cfg.Policy.Location()
	day, err := demoDay(cfg, o.day, time.Now().In(loc))
	if err != nil {
		return err
	}
	start := day.At(7, 40, loc)
	// The clock starts at 08:05: the early arrivals (from 07:40) are replayed at
	// once, so a newcomer sees the school fill up and pupil hours begin (08:30)
	// within seconds rather than minutes.
	clockStart := day.At(8, 5, loc)
	clock := daemon.NewScaledClock(clockStart, o.speed)
	school, err := simulate.New(simulate.Options{Seed: o.seed, Devices: o.devices, Day: start, Clock: clock, Logger: o.log.Named("simulate")})
	if err != nil {
		return fmt.Errorf("simulated school: %w", err)
	}
	if cfg.Policy, err = cfg.Policy.WithRegister(school.Register()); err != nil {
		return err
	}
	if o.savePcap != "" {
		if err := writePcap(o.savePcap, school); err != nil {
			return err
		}
	}
	password := o.password
	if password == "" {
		password = randomSecret(12)
	}
	if o.runFor > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.runFor)
		defer cancel()
	}
	return serve(ctx, serveOpts{
		cfg:      cfg,
		log:      o.log,
		sources:  map[string]daemon.Source{"simulate": &simSource{school: school}},
		clock:    clock,
		firewall: &firewall.Monitor{Log: o.log.Named("firewall")}, // the demo never enforces
		listen:   o.listen,
		notifier: sdnotify.FromEnv(),
		setup: func(ctx context.Context, st *store.Store) error {
			return demoAccounts(ctx, st, password, o.apiToken)
		},
		ready: func(url string) {
			fmt.Fprintf(o.stdout, "HallMonitor demo: %s, %s at %gx speed (simulated clock starts %s)\n",
				cfg.School.Name, day, o.speed, clockStart.Format("Mon 2 Jan 2006 15:04 MST"))
			fmt.Fprintf(o.stdout, "Dashboard: %s\nLogin:     admin / %s\n", url, password)
			if o.apiToken != "" {
				fmt.Fprintf(o.stdout, "API:       curl -H 'Authorization: Bearer %s' %sapi/v1/devices\n", o.apiToken, url)
			}
			fmt.Fprintf(o.stdout, "Data:      %s (removed on exit)\n", dir)
		},
	})
}

// demoDay picks the simulated day: the flag, or the next school day from today.
func demoDay(cfg *config.Config, flag string, now time.Time) (calendar.Date, error) {
	cal := cfg.Policy.Calendar()
	if flag != "" {
		d, err := calendar.ParseDate(flag)
		if err != nil {
			return calendar.Date{}, fmt.Errorf("--day: %w", err)
		}
		if !cal.IsSchoolDay(d) {
			return calendar.Date{}, fmt.Errorf("--day %s is not a school day in the demo calendar (%s)", d, cal.Describe(d))
		}
		return d, nil
	}
	d := calendar.DateOf(now)
	for range 400 {
		if cal.IsSchoolDay(d) {
			return d, nil
		}
		d = d.AddDays(1)
	}
	// Outside the calendar's year: use the first school day it has.
	for _, t := range cal.Terms() {
		for d := t.Start; d.Compare(t.End) <= 0; d = d.AddDays(1) {
			if cal.IsSchoolDay(d) {
				return d, nil
			}
		}
	}
	return calendar.Date{}, fmt.Errorf("the demo calendar has no school day")
}

func demoAccounts(ctx context.Context, st *store.Store, password, apiToken string) error {
	hash, err := dashboard.HashPassword(password)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	if err := st.CreateUser(ctx, daemon.User{Name: "admin", Role: daemon.RoleAdmin, PasswordHash: hash, CreatedAt: now}); err != nil {
		return fmt.Errorf("demo admin account: %w", err)
	}
	if apiToken != "" {
		if err := st.CreateAPIToken(ctx, daemon.APIToken{Name: "demo", TokenHash: dashboard.HashToken(apiToken), Role: daemon.RoleAdmin, CreatedAt: now}); err != nil {
			return fmt.Errorf("demo API token: %w", err)
		}
	}
	return nil
}

func writePcap(path string, school *simulate.School) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("save pcap: %w", err)
	}
	if err := school.WritePcap(f); err != nil {
		f.Close()
		return fmt.Errorf("save pcap %s: %w", path, err)
	}
	return f.Close()
}

func randomSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// simSource feeds the simulated school's real frames through the same decoder
// as live capture.
type simSource struct{ school *simulate.School }

func (s *simSource) Run(ctx context.Context, out chan<- daemon.Observation) error {
	dec := capture.NewDecoder()
	return s.school.Run(ctx, func(f simulate.Frame) error {
		var sendErr error
		err := dec.Decode(f.Data, f.At, "sim0", func(o daemon.Observation) {
			if sendErr != nil {
				return
			}
			select {
			case out <- o:
			case <-ctx.Done():
				sendErr = ctx.Err()
			}
		})
		if sendErr != nil {
			return sendErr
		}
		if err != nil {
			return fmt.Errorf("simulated frame did not decode: %w", err)
		}
		return nil
	})
}
