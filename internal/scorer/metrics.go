package scorer

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Stages of engage_scorer_errors_total.
const (
	stageQuery   = "query"   // reading inputs failed
	stageEmit    = "emit"    // producing health changes failed
	stageWrite   = "write"   // writing account_health rows failed
	stageRestore = "restore" // reading the topic or the last rows at start failed
	stageDecode  = "decode"  // a record on the topic could not be read and was skipped
)

type metrics struct {
	accounts    prometheus.Gauge
	scored      prometheus.Counter
	seconds     *prometheus.HistogramVec
	changes     *prometheus.CounterVec
	rows        prometheus.Counter
	errors      *prometheus.CounterVec
	lastRescore prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		accounts: prometheus.NewGauge(prometheus.GaugeOpts{Name: "engage_scorer_accounts",
			Help: "Accounts scored by the last rescoring."}),
		scored: prometheus.NewCounter(prometheus.CounterOpts{Name: "engage_scorer_accounts_scored_total",
			Help: "Account scorings, summed over rescorings."}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "engage_scorer_rescore_seconds",
			Help:    "Duration of a rescoring of every account, by phase: query (reading inputs), compute, emit, write (account_health), total.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)}, []string{"phase"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "engage_scorer_band_changes_total",
			Help: "Health-change events emitted (acknowledged by the broker), by the band entered."}, []string{"band"}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{Name: "engage_scorer_history_rows_total",
			Help: "Rows written to account_health."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "engage_scorer_errors_total",
			Help: "Scorer errors by stage: query, emit, write, restore, decode (a topic record skipped)."}, []string{"stage"}),
		lastRescore: prometheus.NewGauge(prometheus.GaugeOpts{Name: "engage_scorer_last_rescore_timestamp_seconds",
			Help: "Unix time of the last rescoring that read its inputs."}),
	}
	// Zero series for every label value, so alerts and dashboards see them before the first event.
	for _, b := range []string{"red", "yellow", "green", "power"} {
		m.changes.WithLabelValues(b)
	}
	for _, s := range []string{stageQuery, stageEmit, stageWrite, stageRestore, stageDecode} {
		m.errors.WithLabelValues(s)
	}
	if reg != nil {
		reg.MustRegister(m.accounts, m.scored, m.seconds, m.changes, m.rows, m.errors, m.lastRescore)
	}
	return m
}

func (m *metrics) observe(st Stats, total time.Duration, at time.Time) {
	m.accounts.Set(float64(st.Accounts))
	m.scored.Add(float64(st.Accounts))
	m.seconds.WithLabelValues("query").Observe(st.Query.Seconds())
	m.seconds.WithLabelValues("compute").Observe(st.Compute.Seconds())
	m.seconds.WithLabelValues("emit").Observe(st.Emit.Seconds())
	m.seconds.WithLabelValues("write").Observe(st.Write.Seconds())
	m.seconds.WithLabelValues("total").Observe(total.Seconds())
	m.lastRescore.Set(float64(at.Unix()))
}
