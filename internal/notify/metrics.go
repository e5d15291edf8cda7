package notify

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the notifier's Prometheus metrics, labelled by destination.
type Metrics struct {
	attempts *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
	changes  *prometheus.CounterVec
	pending  *prometheus.GaugeVec
}

// NewMetrics registers the metrics on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "engage_notifier_attempts_total",
			Help: "Delivery attempts by destination and outcome (delivered, retry, rejected, dead_lettered)."}, []string{"destination", "outcome"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "engage_notifier_request_seconds",
			Help: "Time from request to answer, by destination.", Buckets: prometheus.ExponentialBuckets(0.002, 2.5, 10)}, []string{"destination"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "engage_notifier_changes_total",
			Help: "Health changes handled by destination and result (delivered, dead_lettered, filtered, skipped)."}, []string{"destination", "result"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "engage_notifier_pending",
			Help: "Health changes in hand (queued or being retried), by destination."}, []string{"destination"}),
	}
	if reg != nil {
		reg.MustRegister(m.attempts, m.seconds, m.changes, m.pending)
	}
	return m
}

// Forget drops a removed destination's series.
func (m *Metrics) Forget(destination string) {
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{m.attempts, m.seconds, m.changes, m.pending} {
		v.DeletePartialMatch(prometheus.Labels{"destination": destination})
	}
}
