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
	assigned     prometheus.Gauge
	fenced       prometheus.Counter
	dropped      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		records:      prometheus.NewCounter(prometheus.CounterOpts{Name: "engage_worker_records_total", Help: "Records consumed from engagement.events."}),
		fetchErrors:  prometheus.NewCounter(prometheus.CounterOpts{Name: "engage_worker_fetch_errors_total", Help: "Errors fetching from Kafka."}),
		writeErrors:  prometheus.NewCounter(prometheus.CounterOpts{Name: "engage_worker_store_write_errors_total", Help: "Failed store writes (each retry counts)."}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "engage_worker_commit_errors_total", Help: "Failed offset commits (each retry counts)."}),
		dlq:          prometheus.NewCounter(prometheus.CounterOpts{Name: "engage_worker_dlq_records_total", Help: "Records sent to engagement.events.dlq."}),
		lag:          prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "engage_worker_consumer_lag_records", Help: "Records not yet stored: the partition's high watermark minus the group's committed offset, measured every LagInterval."}, []string{"partition"}),
		buffered:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "engage_worker_buffered_records", Help: "Records fetched from Kafka and buffered in the client, not yet processed."}),
		freshness:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "engage_worker_freshness_seconds", Help: "Age (now − received_at) of the newest event in the last stored batch."}),
		batchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "engage_worker_batch_records", Help: "Records per stored batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10)}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "engage_worker_batch_seconds", Help: "Time to process, store and commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "engage_worker_store_write_seconds", Help: "Duration of one store write attempt.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		assigned: prometheus.NewGauge(prometheus.GaugeOpts{Name: "engage_worker_assigned_partitions", Help: "Partitions of engagement.events this worker holds."}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{Name: "engage_worker_fenced_batches_total",
			Help: "Batches dropped unstored because the group had moved on without this worker (its session expired while it held them)."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "engage_worker_fenced_records_total",
			Help: "Records dropped unstored, in fenced batches or polled afterwards from partitions this worker had lost; their new owners store them."}),
	}
	if reg != nil {
		reg.MustRegister(m.records, m.fetchErrors, m.writeErrors, m.commitErrors, m.dlq, m.lag, m.buffered, m.freshness, m.batchRecords, m.batchSeconds, m.writeSeconds,
			m.assigned, m.fenced, m.dropped)
	}
	return m
}
