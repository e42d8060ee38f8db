package main

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/hallmonitor/hallmonitor/adapters/notify"
	"github.com/hallmonitor/hallmonitor/adapters/store"
	"github.com/hallmonitor/hallmonitor/daemon"
	"github.com/hallmonitor/hallmonitor/daemon/config"
)

// outboxFor builds the notification outbox from the alerting section; nil when
// no channel is configured (alerts still reach the dashboard live).
func outboxFor(cfg *config.Config, st *store.Store, log *zap.Logger) (*notify.Outbox, error) {
	a := cfg.Alerting
	channels := map[string]notify.Channel{}
	for _, c := range a.Channels.SMTP {
		channels[c.Name] = &notify.SMTP{ChannelName: c.Name, Host: c.Host, Port: c.Port, Security: c.Security,
			Username: c.Username, Password: c.Password, From: c.From, To: c.To, IncludeDevice: c.IncludeDevice}
	}
	for _, w := range a.Channels.Webhooks {
		switch w.Kind {
		case "teams":
			channels[w.Name] = &notify.Teams{ChannelName: w.Name, URL: w.URL, IncludeDevice: w.IncludeDevice}
		case "slack":
			channels[w.Name] = &notify.Slack{ChannelName: w.Name, URL: w.URL, IncludeDevice: w.IncludeDevice}
		default:
			channels[w.Name] = &notify.Webhook{ChannelName: w.Name, URL: w.URL, Secret: w.Secret, IncludeDevice: w.IncludeDevice}
		}
	}
	for _, s := range a.Channels.Syslog {
		channels[s.Name] = &notify.Syslog{ChannelName: s.Name, Network: s.Network, Addr: s.Addr}
	}
	if len(channels) == 0 {
		return nil, nil
	}
	o := &notify.Outbox{Store: st, Channels: channels, Routes: a.Routes, Escalation: a.Escalation, Throttle: a.Throttle,
		SiteName: cfg.School.Name, DashboardURL: a.DashboardURL, Location: cfg.Policy.Location(), Logger: log}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// notifyOpened hands every newly opened alert from events (the engine's, subscribed
// before it started) to the outbox. The engine has committed the alert before
// publishing it; the outbox commits its delivery rows before sending, and its
// sweep catches any event a slow subscriber missed.
func notifyOpened(ctx context.Context, events <-chan daemon.Event, o *notify.Outbox, log *zap.Logger) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			if ev.Type != "alert.opened" || ev.Alert == nil {
				continue
			}
			if err := o.Notify(ctx, *ev.Alert); err != nil {
				log.Error("alert not queued for notification (the sweep will retry)", zap.String("alert", ev.Alert.ID), zap.Error(err))
			}
		}
	}
}

// escalate sends alerts still new after `after` to the escalation route (the
// deputy DSL and the contacts the policy names for serious incidents), once each.
func escalate(ctx context.Context, st *store.Store, o *notify.Outbox, after time.Duration, log *zap.Logger) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		alerts, err := st.ListAlerts(ctx, daemon.AlertFilter{State: daemon.AlertNew, Limit: 500})
		if err != nil {
			log.Error("escalation check failed", zap.Error(err))
			continue
		}
		for _, a := range alerts {
			if time.Since(a.OpenedAt) >= after {
				if err := o.Escalate(ctx, a); err != nil {
					log.Error("escalation not queued", zap.String("alert", a.ID), zap.Error(err))
				}
			}
		}
	}
}
