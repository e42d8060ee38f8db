package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/hallmonitor/hallmonitor/adapters/firewall"
	render "github.com/hallmonitor/hallmonitor/adapters/report"
	"github.com/hallmonitor/hallmonitor/adapters/sdnotify"
	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/daemon/config"
	"github.com/hallmonitor/hallmonitor/dashboard"
)

// serveOpts wire one running HallMonitor: store, engine, dashboard, signals.
type serveOpts struct {
	cfg      *config.Config
	log      *zap.Logger
	sources  map[string]daemon.Source
	roleFor  func(identity string) string      // 802.1X identity → role (RADIUS feed), or nil
	firewall firewall.Firewall                 // the firewall, or a "would block" monitor; nil: decisions only
	onEngine func(*daemon.Engine)              // told the engine before it runs (sources that ask it questions)
	services []func(ctx context.Context) error // more servers owned by this run (the block page)
	clock    daemon.Clock
	listen   string
	notifier *sdnotify.Notifier
	// reload re-reads the configuration on SIGHUP; nil disables reloads.
	reload func() (*config.Config, error)
	// setup runs once the store is open, before anything serves (demo accounts).
	setup func(ctx context.Context, st *store.Store) error
	// ready is told the dashboard's URL once it accepts connections.
	ready func(url string)
}

func dbPath(cfg *config.Config) string { return filepath.Join(cfg.Storage.DataDir, "hallmonitor.db") }

// serve runs until ctx is cancelled (SIGINT/SIGTERM) or a part fails.
func serve(ctx context.Context, o serveOpts) error {
	log := o.log
	cfg := o.cfg
	st, err := store.Open(ctx, dbPath(cfg), cfg.School.SiteID, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing store", zap.Error(err))
		}
	}()
	if o.setup != nil {
		if err := o.setup(ctx, st); err != nil {
			return err
		}
	}
	var eng *daemon.Engine
	var enf daemon.Enforcer
	if o.firewall != nil {
		vlanOf := map[string]uint16{}
		for _, p := range cfg.Enforcement.Protect {
			vlanOf[p.Interface] = p.VLAN
		}
		known := func(iface string) int { // devices on the interface's VLAN, for the safety valve
			n := 0
			for _, d := range eng.Devices() {
				if d.VLAN == vlanOf[iface] {
					n++
				}
			}
			return n
		}
		enf = newEnforcer(cfg, o.firewall, known, log.Named("enforce"))
	}
	// The exemptions register: stored exemptions apply from the first observation.
	exemptions := newExemptionsRegister(st, cfg.Policy, o.clock, log.Named("exemptions"))
	pol, err := exemptions.Policy(ctx)
	if err != nil {
		return fmt.Errorf("exemptions register: %w", err)
	}
	eng, err = daemon.New(daemon.Options{
		SiteID:          cfg.School.SiteID,
		Policy:          pol,
		Classify:        cfg.Fingerprints.Classify,
		Refine:          cfg.Fingerprints.Refine,
		Store:           st,
		History:         st,
		Dwell:           dwell(cfg),
		APFresh:         cfg.Location.APFresh,
		RoleForIdentity: o.roleFor,
		Safety:          safety(cfg),
		Enforcer:        enf,
		BlockStore:      st,
		Clock:           o.clock,
		Logger:          log.Named("engine"),
		Sources:         o.sources,
	})
	if err != nil {
		return err
	}
	exemptions.attach(eng)
	if o.onEngine != nil {
		o.onEngine(eng)
	}
	tlsOn := cfg.Dashboard.TLSCert != "" && cfg.Dashboard.TLSKey != ""
	secret, err := render.LoadOrCreateSecret(cfg.Storage.DataDir) // the same pseudonyms as the reports
	if err != nil {
		return fmt.Errorf("pseudonym key: %w", err)
	}
	dash, err := dashboard.New(dashboard.Options{
		Reports:         dashboardReports{cfg: cfg, st: st},
		PseudonymSecret: secret,
		Store:           st,
		Live:            eng,
		Exemptions:      exemptions,
		Users:           usersAdmin{st},      // /users: accounts and API tokens
		Deliveries:      alertDeliveries{st}, // delivery status on the alert page
		Logger:          log.Named("dashboard"),
		Metrics:         promhttp.HandlerFor(eng.Metrics().Registry, promhttp.HandlerOpts{}),
		Health:          eng.Health,
		SecureCookies:   tlsOn,
		SiteName:        cfg.School.Name,
		SiteID:          cfg.School.SiteID,
		SessionTTL:      cfg.Dashboard.SessionTTL,
		// SPT-14 / OSS-7: the policy's own review date; a banner once it has passed.
		PolicyReviewDue: cfg.School.PolicyReviewDue,
	})
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	listen := o.listen
	if listen == "" {
		listen = cfg.Dashboard.Listen
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("dashboard listen %s: %w", listen, err)
	}
	srv := &http.Server{
		Handler:           dash.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	srv.RegisterOnShutdown(dash.Close) // Shutdown does not end open event streams by itself

	mailer, err := newReportMailer(cfg, st, o.clock, log.Named("reports")) // reports: e-mailed at daily_at
	if err != nil {
		return err
	}
	outbox, err := outboxFor(cfg, st, log.Named("notify"))
	if err != nil {
		return fmt.Errorf("alerting: %w", err)
	}
	var opened <-chan daemon.Event
	if outbox != nil {
		// Subscribed before the engine starts: an alert opened by the first
		// observations after a (re)start is mailed within seconds, not at the
		// outbox's next sweep a minute later (a test caught the race).
		var unsubscribe func()
		opened, unsubscribe = eng.Subscribe()
		defer unsubscribe()
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return eng.Run(gctx) })
	g.Go(func() error {
		var err error
		if tlsOn {
			err = srv.ServeTLS(ln, cfg.Dashboard.TLSCert, cfg.Dashboard.TLSKey)
		} else {
			err = srv.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("dashboard: %w", err)
	})
	g.Go(func() error { // graceful stop: the owner of srv's lifetime
		<-gctx.Done()
		_ = o.notifier.Stopping()
		log.Info("stopping")
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	g.Go(func() error { return housekeeping(gctx, st, cfg, log) })
	if mailer != nil {
		g.Go(func() error { return mailer.Run(gctx) })
	}
	for _, run := range o.services {
		g.Go(func() error { return run(gctx) })
	}
	if outbox != nil {
		g.Go(func() error { return outbox.Run(gctx) })
		g.Go(func() error { return notifyOpened(gctx, opened, outbox, log.Named("notify")) })
		if after := cfg.Alerting.EscalateAfter; after > 0 {
			g.Go(func() error { return escalate(gctx, st, outbox, after, log.Named("notify")) })
		}
	}
	if o.reload != nil {
		g.Go(func() error { return reloadOnHUP(gctx, o, eng, st, exemptions) })
	}

	select { // READY only once the engine really runs
	case <-eng.Ready():
	case <-gctx.Done():
		return g.Wait()
	}
	scheme := "http"
	if tlsOn {
		scheme = "https"
	}
	url := fmt.Sprintf("%s://%s/", scheme, ln.Addr().String())
	log.Info("HallMonitor running",
		zap.String("school", cfg.School.Name), zap.String("dashboard", url),
		zap.String("enforcement", cfg.Enforcement.Mode), zap.Int("sources", len(o.sources)),
		zap.String("data", dbPath(cfg)))
	_ = o.notifier.Ready(fmt.Sprintf("monitoring (%s mode), dashboard %s", cfg.Enforcement.Mode, url))
	if o.ready != nil {
		o.ready(url)
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// reloadOnHUP re-reads the configuration on SIGHUP. An invalid file is refused,
// logged with every error, audited, and the running policy is kept. A valid one
// becomes the exemptions register's base, which reloads the engine with the
// register's exemptions applied on top.
func reloadOnHUP(ctx context.Context, o serveOpts, eng *daemon.Engine, st *store.Store, exemptions *exemptionsRegister) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
		}
		_ = o.notifier.Reloading()
		// An admin who changed the firewall by hand and reloads expects it checked:
		// the next apply (a decision, or the resync within a minute) reads the kernel.
		if inv, ok := o.firewall.(interface{ Invalidate() }); ok {
			inv.Invalidate()
		}
		next, err := o.reload()
		if err != nil {
			eng.Metrics().Reloads.WithLabelValues("rejected").Inc()
			o.log.Error("configuration reload refused; keeping the last good configuration",
				zap.Strings("errors", strings.Split(err.Error(), "\n")))
			audit(ctx, st, o.log, o.cfg.School.SiteID, "config.reload.rejected", o.cfg.Source, "", err.Error())
			_ = o.notifier.Ready("reload refused: keeping the last good configuration")
			continue
		}
		if err := exemptions.rebase(ctx, next.Policy); err != nil {
			return err
		}
		// The running daemon keeps the other sections as it started with them:
		// say so, or an admin who changed the DSL's address believes it applied.
		if pending := o.cfg.RestartNeeded(next); len(pending) > 0 {
			list := strings.Join(pending, ", ")
			o.log.Warn("configuration reloaded (policy applied); these sections changed and take effect only after a restart",
				zap.String("file", next.Source), zap.Strings("restart_needed", pending))
			audit(ctx, st, o.log, o.cfg.School.SiteID, "config.reload", next.Source, "", "ok; restart needed for: "+list)
			_ = o.notifier.Ready("configuration reloaded; restart to apply " + list)
			continue
		}
		o.log.Info("configuration reloaded", zap.String("file", next.Source))
		audit(ctx, st, o.log, o.cfg.School.SiteID, "config.reload", next.Source, "", "ok")
		_ = o.notifier.Ready("configuration reloaded")
	}
}

func audit(ctx context.Context, st *store.Store, log *zap.Logger, site, action, target, before, after string) {
	err := st.AppendAudit(ctx, daemon.AuditEntry{SiteID: site, At: time.Now().UTC(), Actor: "system",
		Action: action, Target: target, Before: before, After: after})
	if err != nil {
		log.Error("audit write failed", zap.String("action", action), zap.Error(err))
	}
}

// housekeeping applies the retention setting (MACs and host names are personal
// data) and removes expired sessions, hourly.
func housekeeping(ctx context.Context, st *store.Store, cfg *config.Config, log *zap.Logger) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		now := time.Now()
		if cfg.Storage.Retention > 0 {
			if n, err := st.Purge(ctx, now.Add(-cfg.Storage.Retention)); err != nil {
				log.Error("retention purge failed", zap.Error(err))
			} else if n > 0 {
				log.Info("retention purge", zap.Int("alerts_removed", n), zap.Duration("retention", cfg.Storage.Retention))
			}
		}
		if r := cfg.Storage.SightingsRetention; r > 0 {
			if _, err := st.PurgeSightings(ctx, now.Add(-r)); err != nil {
				log.Error("zone history purge failed", zap.Error(err))
			}
		}
		if _, err := st.DeleteExpiredSessions(ctx, now); err != nil {
			log.Error("session cleanup failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// dwell converts the configured dwell (0 = none) to the engine's (0 = default, <0 = none).
func dwell(cfg *config.Config) time.Duration {
	if cfg.Location.Dwell == 0 {
		return -1
	}
	return cfg.Location.Dwell
}
