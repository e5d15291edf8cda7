package session

import "github.com/prometheus/client_golang/prometheus"

// metrics of a Sessionizer. The names keep the engage_worker_ prefix: the sessionizer runs
// inside the stream worker, and dashboards know them by these names.
type metrics struct {
	outcomes          *prometheus.CounterVec
	loads             prometheus.Counter
	danglingRetracted prometheus.Counter
	evicted           prometheus.Counter
	restoreSeconds    prometheus.Histogram
	stateUsers        prometheus.Gauge
	stateEvents       prometheus.Gauge
	stateBytes        prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "engage_worker_session_events_total",
			Help: "Sessionizable events by outcome: accepted, duplicate, late (stored raw only), invalid."}, []string{"outcome"}),
		loads: prometheus.NewCounter(prometheus.CounterOpts{Name: "engage_worker_user_loads_total", Help: "Users whose state was reloaded from ClickHouse for an old event."}),
		danglingRetracted: prometheus.NewCounter(prometheus.CounterOpts{Name: "engage_worker_dangling_sessions_retracted_total",
			Help: "Stored sessions retracted at restore because a crashed batch left them without their events."}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{Name: "engage_worker_users_evicted_total", Help: "Users dropped from memory because their sessions can no longer change."}),
		restoreSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "engage_worker_restore_seconds", Help: "Time to restore sessionizer state from ClickHouse.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		stateUsers:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "engage_worker_state_users", Help: "Users held in sessionizer memory."}),
		stateEvents: prometheus.NewGauge(prometheus.GaugeOpts{Name: "engage_worker_state_events", Help: "Events buffered in sessionizer memory."}),
		stateBytes:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "engage_worker_state_bytes", Help: "Approximate heap held by sessionizer state."}),
	}
	if reg != nil {
		reg.MustRegister(m.outcomes, m.loads, m.danglingRetracted, m.evicted, m.restoreSeconds, m.stateUsers, m.stateEvents, m.stateBytes)
	}
	return m
}
