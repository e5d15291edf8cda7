package ingest

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/engage-oss/engage/internal/event"
)

// metrics of the ingest API. Label values come from closed sets (endpoints, status codes the
// handler writes, rejection reasons below), so cardinality is bounded whatever clients send.
type metrics struct {
	requests   *prometheus.CounterVec   // endpoint, code
	accepted   *prometheus.CounterVec   // endpoint
	rejected   *prometheus.CounterVec   // reason
	ignored    *prometheus.CounterVec   // type
	publish    *prometheus.HistogramVec // outcome
	batchSize  prometheus.Histogram
	inflight   prometheus.GaugeFunc
	collectors []prometheus.Collector
}

func newMetrics(reg prometheus.Registerer, inflightBytes func() float64) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "engage", Subsystem: "ingest", Name: "requests_total",
			Help: "Ingest API requests by endpoint and HTTP status code.",
		}, []string{"endpoint", "code"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "engage", Subsystem: "ingest", Name: "events_accepted_total",
			Help: "Events acknowledged by the broker and answered 200, by endpoint.",
		}, []string{"endpoint"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "engage", Subsystem: "ingest", Name: "events_rejected_total",
			Help: "Events refused with a per-event error, by reason: the offending field, or account_not_allowed, not_an_object, invalid_json, segment_type.",
		}, []string{"reason"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "engage", Subsystem: "ingest", Name: "segment_calls_ignored_total",
			Help: "Segment calls acknowledged but not turned into events (identify, alias), by type.",
		}, []string{"type"}),
		publish: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "engage", Subsystem: "ingest", Name: "publish_duration_seconds",
			Help:    "Time from handing a request's events to the publisher until every one is acknowledged (or the publish fails).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"outcome"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "engage", Subsystem: "ingest", Name: "batch_events",
			Help:    "Events per request body, valid or not.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9), // 1 .. 65536
		}),
		inflight: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "engage", Subsystem: "ingest", Name: "inflight_bytes",
			Help: "Bytes charged to requests being read, decoded or published (bounded by MaxInflightBytes).",
		}, inflightBytes),
	}
	m.collectors = []prometheus.Collector{m.requests, m.accepted, m.rejected, m.ignored, m.publish, m.batchSize, m.inflight}
	if reg == nil {
		return m, nil
	}
	for _, c := range m.collectors {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering ingest metrics: %w", err)
		}
	}
	return m, nil
}

// rejectReasons is the closed set of reason labels; anything else is "other".
var rejectReasons = map[string]bool{
	"event_id": true, "account_id": true, "user_id": true, "name": true, "timestamp": true,
	"sent_at": true, "properties": true, "properties.seats": true, "properties.plan": true,
	"properties.mrr": true, "properties.status": true, "properties.score": true,
	"properties.renewed": true, "properties.severity": true,
}

// Reasons that are not a field of the event.
const (
	reasonAccountNotAllowed = "account_not_allowed"
	reasonNotObject         = "not_an_object"
	reasonInvalidJSON       = "invalid_json"
	reasonSegmentType       = "segment_type"
	reasonOther             = "other"
)

func reasonOf(err error) string {
	var le *lineError
	if errors.As(err, &le) {
		return reasonInvalidJSON
	}
	if err == errAccountNotAllowed {
		return reasonAccountNotAllowed
	}
	var fe *event.FieldError
	if !errors.As(err, &fe) {
		return reasonOther
	}
	switch fe.Field {
	case "event":
		return reasonNotObject
	case "type":
		return reasonSegmentType
	}
	if rejectReasons[fe.Field] {
		return fe.Field
	}
	if f, ok := segmentFieldReasons[fe.Field]; ok {
		return f
	}
	return reasonOther
}

// segmentFieldReasons labels type errors in Segment fields with the engage field they feed.
var segmentFieldReasons = map[string]string{
	"messageId": "event_id", "userId": "user_id", "anonymousId": "user_id", "groupId": "account_id",
	"event": "name", "name": "name", "originalTimestamp": "timestamp", "sentAt": "sent_at",
}

func codeLabel(code int) string { return strconv.Itoa(code) }
