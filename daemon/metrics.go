package daemon

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the daemon's Prometheus metrics, on a registry of its own (no
// package-level globals), so tests and several engines in one process never clash.
type Metrics struct {
	Registry       *prometheus.Registry
	Observations   *prometheus.CounterVec
	Devices        prometheus.Gauge
	DevicesDropped prometheus.Counter
	Classified     prometheus.Counter
	Decisions      *prometheus.CounterVec
	AlertsOpened   *prometheus.CounterVec
	AlertsClosed   prometheus.Counter
	StoreErrors    prometheus.Counter
	Reloads        *prometheus.CounterVec
	EventsDropped  prometheus.Counter
	LoopSeconds    prometheus.Histogram
	Reevaluations  prometheus.Counter
	EnforceErrors  prometheus.Counter
	EnforceSeconds prometheus.Histogram
	Blocked        prometheus.Gauge
}

// NewMetrics builds the daemon's metrics on a fresh registry, with Go and process
// collectors.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		Observations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmonitor_observations_total", Help: "Observations processed, by kind.",
		}, []string{"kind"}),
		Devices: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hallmonitor_devices", Help: "Devices in live state.",
		}),
		DevicesDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hallmonitor_devices_evicted_total", Help: "Devices evicted because the live-state cap was reached (e.g. a DHCP flood of random MACs).",
		}),
		Classified: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hallmonitor_classifications_total", Help: "Times a device was (re)classified.",
		}),
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmonitor_decision_changes_total", Help: "Decision changes, by new action.",
		}, []string{"action"}),
		AlertsOpened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmonitor_alerts_opened_total", Help: "Alert episodes opened, by severity.",
		}, []string{"severity"}),
		AlertsClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hallmonitor_alerts_closed_total", Help: "Alert episodes closed.",
		}),
		StoreErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hallmonitor_store_errors_total", Help: "Failed writes to the store (the episode is retried).",
		}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmonitor_config_reloads_total", Help: "Configuration reloads, by result.",
		}, []string{"result"}),
		EventsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hallmonitor_events_dropped_total", Help: "Live events not delivered to a slow subscriber.",
		}),
		LoopSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hallmonitor_observation_seconds", Help: "Time to apply one observation (classify, zone, policy, episode).",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10),
		}),
		Reevaluations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hallmonitor_schedule_reevaluations_total", Help: "Whole-fleet re-evaluations at schedule edges.",
		}),
		EnforceErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hallmonitor_firewall_errors_total", Help: "Failed firewall updates (retried with backoff).",
		}),
		EnforceSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hallmonitor_firewall_apply_seconds", Help: "Time to make the firewall match the desired blocks.",
			Buckets: prometheus.ExponentialBuckets(1e-4, 4, 10),
		}),
		Blocked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hallmonitor_blocked_devices", Help: "Devices the firewall blocks (or would block in monitor mode).",
		}),
	}
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.Observations, m.Devices, m.DevicesDropped, m.Classified, m.Decisions, m.AlertsOpened,
		m.AlertsClosed, m.StoreErrors, m.Reloads, m.EventsDropped, m.LoopSeconds, m.Reevaluations, m.EnforceErrors, m.EnforceSeconds, m.Blocked)
	return m
}
