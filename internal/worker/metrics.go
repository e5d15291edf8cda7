package worker

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	records      prometheus.Counter
	fetchErrors  prometheus.Counter
	writeErrors  prometheus.Counter
	commitErrors prometheus.Counter
	dlq          prometheus.Counter
	lag          *prometheus.GaugeVec
	buffered     prometheus.Gauge
	freshness    prometheus.Gauge
	batchRecords prometheus.Histogram
	batchSeconds prometheus.Histogram
	writeSeconds prometheus.Histogram

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
		records:      prometheus.NewCounter(prometheus.CounterOpts{Name: "engage_worker_records_total", Help: "Records consumed from engagement.events."}),
		fetchErrors:  prometheus.NewCounter(prometheus.CounterOpts{Name: "engage_worker_fetch_errors_total", Help: "Errors fetching from Kafka."}),
		writeErrors:  prometheus.NewCounter(prometheus.CounterOpts{Name: "engage_worker_store_write_errors_total", Help: "Failed store writes (each retry counts)."}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "engage_worker_commit_errors_total", Help: "Failed offset commits (each retry counts)."}),
		dlq:          prometheus.NewCounter(prometheus.CounterOpts{Name: "engage_worker_dlq_records_total", Help: "Records sent to engagement.events.dlq."}),
		lag:          prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "engage_worker_consumer_lag_records", Help: "Records between the last one stored and the partition's high watermark (the newest one seen)."}, []string{"partition"}),
		buffered:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "engage_worker_buffered_records", Help: "Records fetched from Kafka and buffered in the client, not yet processed."}),
		freshness:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "engage_worker_freshness_seconds", Help: "Age (now − received_at) of the newest event in the last stored batch."}),
		batchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "engage_worker_batch_records", Help: "Records per stored batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10)}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "engage_worker_batch_seconds", Help: "Time to process, store and commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "engage_worker_store_write_seconds", Help: "Duration of one store write attempt.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
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
		reg.MustRegister(m.records, m.fetchErrors, m.writeErrors, m.commitErrors, m.dlq, m.lag, m.buffered, m.freshness, m.batchRecords, m.batchSeconds, m.writeSeconds,
			m.outcomes, m.loads, m.danglingRetracted, m.evicted, m.restoreSeconds, m.stateUsers, m.stateEvents, m.stateBytes)
	}
	return m
}
