package ingest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/event"
)

// Publisher durably publishes events: it returns nil only after the broker acknowledged every
// one of them (acks=all). Implemented by internal/adapters/kafka with franz-go; by a fake in tests.
//
// Publish may keep the events it is given (they are values; their strings and Properties are
// never modified afterwards) but not the slice: the handler reuses it once Publish returns.
// A non-nil error means some events may not be durable; the handler answers 503 and the
// client retries the whole request, which is safe because event ids make the retry
// idempotent downstream.
type Publisher interface {
	Publish(ctx context.Context, events []event.Event) error
}

// errAccountNotAllowed is the per-event error of an event for an account outside its write
// key's allow-list.
var errAccountNotAllowed = &event.FieldError{Field: "account_id", Reason: "account not allowed for this key"}

// Handler serves the ingest API: POST /v1/events and the Segment-compatible endpoints. Mount
// it on "/v1/" (or "/"); every other path it is given answers a JSON 404.
//
// The http.Server should set ReadTimeout (say 30 s): a request is charged to the in-flight
// bound for the bytes it has sent, so a client that trickles its body holds that memory
// until the server gives up on it.
type Handler struct {
	cfg     Config
	pub     Publisher
	log     *zap.Logger
	keys    *Keys
	mem     inflight
	lim     limiter
	buckets []bucket // by key index
	m       *metrics
	scratch sync.Pool // *scratch

	// drained is cancelled at the deadline given to Drain: publishes still waiting then
	// give up and answer 503.
	drained   context.Context
	drain     context.CancelFunc
	drainOnce sync.Once
}

// scratch is the per-request memory reused across requests: nothing in it outlives the
// request (Publish keeps events by value, not the slice).
type scratch struct {
	items  []item
	events []event.Event
	out    []byte
}

// NewHandler validates cfg, applies its defaults and builds the handler. Metrics are
// registered on reg when it is not nil.
//
// The handler has no readiness of its own: whether events can be published is the
// Publisher's to say (kafka.Publisher.Check on the gateway's /readyz).
func NewHandler(cfg Config, pub Publisher, log *zap.Logger, reg prometheus.Registerer) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ingest config: %w", err)
	}
	if pub == nil {
		return nil, errors.New("ingest: nil Publisher")
	}
	if log == nil {
		log = zap.NewNop()
	}
	cfg = cfg.withDefaults()
	h := &Handler{cfg: cfg, pub: pub, log: log, keys: cfg.Keys}
	h.drained, h.drain = context.WithCancel(context.Background())
	h.mem.max = cfg.MaxInflightBytes
	if cfg.RateLimit > 0 {
		h.lim = limiter{rate: cfg.RateLimit, burst: float64(cfg.RateBurst)}
		h.buckets = make([]bucket, h.keys.Len())
	}
	m, err := newMetrics(reg, func() float64 { return float64(h.mem.load()) })
	if err != nil {
		return nil, err
	}
	h.m = m
	h.scratch.New = func() any { return new(scratch) }
	return h, nil
}

// endpoint is a route of the API.
type endpoint struct {
	name    string // metric label
	segment segmentCall
}

var routes = map[string]endpoint{
	"/v1/events": {name: "events", segment: segNone},
	// Segment's HTTP Tracking API, and the short paths its browser and mobile SDKs use.
	"/v1/batch":    {name: "batch", segment: segBatch},
	"/v1/import":   {name: "batch", segment: segBatch},
	"/v1/b":        {name: "batch", segment: segBatch},
	"/v1/track":    {name: "track", segment: segTrack},
	"/v1/t":        {name: "track", segment: segTrack},
	"/v1/page":     {name: "page", segment: segPage},
	"/v1/p":        {name: "page", segment: segPage},
	"/v1/screen":   {name: "screen", segment: segScreen},
	"/v1/s":        {name: "screen", segment: segScreen},
	"/v1/identify": {name: "identify", segment: segIdentify},
	"/v1/i":        {name: "identify", segment: segIdentify},
	"/v1/group":    {name: "group", segment: segGroup},
	"/v1/g":        {name: "group", segment: segGroup},
	"/v1/alias":    {name: "alias", segment: segAlias},
	"/v1/a":        {name: "alias", segment: segAlias},
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep, ok := routes[r.URL.Path]
	if !ok {
		h.fail(w, "other", &httpError{status: http.StatusNotFound, msg: "no such endpoint: " + truncate(r.URL.Path, 128)})
		return
	}
	hdr := w.Header()
	// Write keys are not secrets in a browser (Segment's model) and no cookie is involved, so
	// any origin may call the API.
	hdr.Set("Access-Control-Allow-Origin", "*")
	switch r.Method {
	case http.MethodPost:
	case http.MethodOptions:
		hdr.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		hdr.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding")
		hdr.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		h.m.requests.WithLabelValues(ep.name, codeLabel(http.StatusNoContent)).Inc()
		return
	default:
		hdr.Set("Allow", "POST, OPTIONS")
		h.fail(w, ep.name, errStatus(http.StatusMethodNotAllowed, "method %s not allowed: use POST", truncate(r.Method, 16)))
		return
	}
	h.serve(w, r, ep)
}

// request is the state of one POST.
type request struct {
	ep         endpoint
	receivedAt time.Time
	key        WriteKey
	authed     bool
	lease      lease
	sc         *scratch
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, ep endpoint) {
	rq := request{ep: ep, receivedAt: h.cfg.now(), lease: lease{s: &h.mem}}
	rq.sc = h.scratch.Get().(*scratch)
	defer func() {
		rq.lease.release()
		rq.sc.reset()
		h.scratch.Put(rq.sc)
	}()
	if herr := h.handle(w, r, &rq); herr != nil {
		h.fail(w, ep.name, herr)
	}
}

func (sc *scratch) reset() {
	clear(sc.items) // drop references into the body
	clear(sc.events)
	sc.items, sc.events, sc.out = sc.items[:0], sc.events[:0], sc.out[:0]
}

// handle serves one POST; it writes the 200 itself and returns any whole-request error.
func (h *Handler) handle(w http.ResponseWriter, r *http.Request, rq *request) *httpError {
	key, present, herr := authKey(r)
	if herr != nil {
		return herr
	}
	if present {
		if rq.key, rq.authed = h.keys.Authenticate(key); !rq.authed {
			return &httpError{status: http.StatusUnauthorized, msg: "unknown write key"}
		}
	} else if rq.ep.segment == segNone {
		// Segment clients may put the key in the body; engage's own endpoint needs the header,
		// so an unauthenticated body is never read.
		return &httpError{status: http.StatusUnauthorized, msg: "missing write key: send Authorization: Bearer <write key>, or HTTP Basic with the key as user name"}
	}

	format, ok := contentFormat(r.Header.Get("Content-Type"), rq.ep.segment != segNone)
	if !ok {
		return errStatus(http.StatusUnsupportedMediaType, "unsupported Content-Type %q: use application/json or application/x-ndjson", truncate(r.Header.Get("Content-Type"), 64))
	}
	gz, ok := gzipped(r.Header.Get("Content-Encoding"))
	if !ok {
		return errStatus(http.StatusUnsupportedMediaType, "unsupported Content-Encoding %q: use gzip or none", truncate(r.Header.Get("Content-Encoding"), 64))
	}
	if rq.authed {
		if herr := h.admit(rq); herr != nil {
			return herr
		}
	}

	body, herr := readBody(w, r, gz, h.cfg.MaxBodyBytes, &rq.lease)
	if herr != nil {
		return herr
	}
	// Charge the body a second time for the events' wire encoding, about as large, which
	// the Publisher holds until the broker has acknowledged them.
	if !rq.lease.acquire(int64(len(body))) {
		return errSaturated
	}
	t := newText(body) // from here on, nothing writes to body: see newText

	var seg segmentResult
	var err error
	if rq.ep.segment == segNone {
		rq.sc.items, err = decodeEvents(t, format == formatNDJSON, rq.sc.items)
	} else {
		seg, err = decodeSegment(t, rq.ep.segment, rq.receivedAt, rq.sc.items)
		rq.sc.items = seg.items
	}
	if err != nil {
		return &httpError{status: http.StatusBadRequest, msg: err.Error()}
	}
	if !rq.authed {
		if seg.writeKey == "" {
			return &httpError{status: http.StatusUnauthorized, msg: "missing write key: send HTTP Basic with the key as user name, or writeKey in the body"}
		}
		if rq.key, rq.authed = h.keys.Authenticate(seg.writeKey); !rq.authed {
			return &httpError{status: http.StatusUnauthorized, msg: "unknown write key"}
		}
		if herr := h.admit(rq); herr != nil {
			return herr
		}
	}
	h.m.batchSize.Observe(float64(len(rq.sc.items) + seg.ignored()))

	sc := rq.sc
	for i := range sc.items {
		it := &sc.items[i]
		if it.err != nil {
			continue
		}
		ev, err := it.in.Build(rq.receivedAt)
		if err == nil && !rq.key.AllowsAccount(ev.AccountID) {
			err = errAccountNotAllowed
		}
		if err != nil {
			it.err = err
			continue
		}
		sc.events = append(sc.events, ev)
	}
	rejected := len(sc.items) - len(sc.events)

	if h.lim.rate > 0 {
		h.lim.take(&h.buckets[rq.key.idx], rq.receivedAt, len(sc.events))
	}
	if len(sc.events) > 0 {
		if herr := h.publish(r.Context(), rq); herr != nil {
			return herr
		}
	}

	h.respond(w, rq, &seg, rejected)
	return nil
}

// respond writes the 200: counts, and the per-event errors in body order.
func (h *Handler) respond(w http.ResponseWriter, rq *request, seg *segmentResult, rejected int) {
	sc := rq.sc
	h.m.accepted.WithLabelValues(rq.ep.name).Add(float64(len(sc.events)))
	if seg.identify > 0 {
		h.m.ignored.WithLabelValues("identify").Add(float64(seg.identify))
	}
	if seg.alias > 0 {
		h.m.ignored.WithLabelValues("alias").Add(float64(seg.alias))
	}
	out := append(sc.out[:0], '{')
	if rq.ep.segment != segNone {
		out = append(out, `"success":true,`...)
	}
	out = append(out, `"accepted":`...)
	out = strconv.AppendInt(out, int64(len(sc.events)), 10)
	out = append(out, `,"rejected":`...)
	out = strconv.AppendInt(out, int64(rejected), 10)
	if rq.ep.segment != segNone {
		out = append(out, `,"ignored":`...)
		out = strconv.AppendInt(out, int64(seg.ignored()), 10)
	}
	out = append(out, `,"errors":[`...)
	first := true
	for i := range sc.items {
		it := &sc.items[i]
		if it.err == nil {
			continue
		}
		h.m.rejected.WithLabelValues(reasonOf(it.err)).Inc()
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, `{"index":`...)
		out = strconv.AppendInt(out, int64(it.index), 10)
		if id := it.in.EventID; id != "" && len(id) <= 4*event.MaxEventIDLen && utf8.ValidString(id) && utf8.RuneCountInString(id) <= event.MaxEventIDLen {
			// Only an id that could be valid is echoed: an over-long one would let a request
			// make the response as large as itself.
			out = append(out, `,"event_id":`...)
			out = appendJSONString(out, id)
		}
		out = append(out, `,"error":`...)
		out = appendJSONString(out, truncate(it.err.Error(), 512))
		out = append(out, '}')
	}
	out = append(out, "]}\n"...)
	sc.out = out
	h.writeJSON(w, http.StatusOK, out)
	h.m.requests.WithLabelValues(rq.ep.name, "200").Inc()
	if rejected > 0 && h.log.Core().Enabled(zap.DebugLevel) {
		h.log.Debug("events rejected", zap.String("endpoint", rq.ep.name), zap.String("key_fingerprint", rq.key.Fingerprint()),
			zap.Int("accepted", len(sc.events)), zap.Int("rejected", rejected))
	}
}

// Drain bounds every publish, those waiting now and those to come, by deadline: a request
// whose events the broker has not acknowledged by then gets 503 with Retry-After, as after
// PublishTimeout. The gateway calls it when its shutdown begins, with a deadline before its
// HTTP server closes the connections still open, so that every request in flight gets an
// answer, and the client knows to retry elsewhere. Later calls are ignored.
func (h *Handler) Drain(deadline time.Time) {
	h.drainOnce.Do(func() { time.AfterFunc(time.Until(deadline), h.drain) })
}

// admit applies the key's rate limit before the body is read.
func (h *Handler) admit(rq *request) *httpError {
	if h.lim.rate == 0 {
		return nil
	}
	ok, wait := h.lim.admit(&h.buckets[rq.key.idx], rq.receivedAt)
	if ok {
		return nil
	}
	return &httpError{status: http.StatusTooManyRequests, msg: "rate limit of " + strconv.FormatFloat(h.lim.rate, 'g', -1, 64) + " events/s for this write key exceeded", retryAfter: wait}
}

// publish hands the request's valid events to the Publisher and waits for the broker.
//
// A client that hangs up does not cancel the publish: the events are already on their way,
// finishing costs less than a half-written batch, and a retry is deduplicated anyway. It
// also keeps a client's disconnect from counting as a broker failure on /readyz.
func (h *Handler) publish(ctx context.Context, rq *request) *httpError {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.PublishTimeout)
	defer cancel()
	defer context.AfterFunc(h.drained, cancel)()
	start := time.Now()
	err := h.pub.Publish(ctx, rq.sc.events)
	elapsed := time.Since(start).Seconds()
	if err == nil {
		h.m.publish.WithLabelValues("ok").Observe(elapsed)
		return nil
	}
	h.m.publish.WithLabelValues("error").Observe(elapsed)
	msg := "publishing events failed; answering 503"
	if h.drained.Err() != nil {
		msg = "shutting down before the broker acknowledged the events; answering 503"
	}
	h.log.Warn(msg,
		zap.String("endpoint", rq.ep.name), zap.String("key_fingerprint", rq.key.Fingerprint()),
		zap.Int("events", len(rq.sc.events)), zap.Error(err))
	return &httpError{status: http.StatusServiceUnavailable, msg: "events could not be durably stored; retry later", retryAfter: h.cfg.RetryAfter}
}

// fail answers a whole-request error.
func (h *Handler) fail(w http.ResponseWriter, endpoint string, e *httpError) {
	retryAfter := e.retryAfter
	if e.status == http.StatusServiceUnavailable && retryAfter == 0 {
		retryAfter = h.cfg.RetryAfter
	}
	if retryAfter > 0 {
		secs := int64((retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	}
	if e == errSaturated {
		h.log.Warn("refusing request: in-flight bound reached", zap.String("endpoint", endpoint), zap.Int64("inflight_bytes", h.mem.load()))
	} else if e.status >= 400 && e.status < 500 && h.log.Core().Enabled(zap.DebugLevel) {
		h.log.Debug("request refused", zap.String("endpoint", endpoint), zap.Int("status", e.status), zap.String("error", e.msg))
	}
	out := append(make([]byte, 0, 64+len(e.msg)), `{"error":`...)
	out = appendJSONString(out, e.msg)
	out = append(out, "}\n"...)
	h.writeJSON(w, e.status, out)
	h.m.requests.WithLabelValues(endpoint, codeLabel(e.status)).Inc()
}

func (h *Handler) writeJSON(w http.ResponseWriter, status int, body []byte) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// authKey extracts the write key from the Authorization header: "Bearer <key>", or "Basic"
// with the key as user name (the password is ignored, as Segment does). present is false
// without the header.
func authKey(r *http.Request) (key string, present bool, herr *httpError) {
	a := r.Header.Get("Authorization")
	if a == "" {
		return "", false, nil
	}
	scheme, cred, _ := strings.Cut(a, " ")
	cred = strings.TrimSpace(cred)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		key = cred
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return "", true, &httpError{status: http.StatusUnauthorized, msg: "malformed Basic credentials"}
		}
		user, _, _ := strings.Cut(string(raw), ":")
		key = user
	default:
		return "", true, &httpError{status: http.StatusUnauthorized, msg: "unsupported Authorization scheme: use Bearer <write key>, or HTTP Basic with the key as user name"}
	}
	if key == "" {
		return "", true, &httpError{status: http.StatusUnauthorized, msg: "empty write key"}
	}
	return key, true, nil
}

// truncate shortens s for echoing in an error, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, replacing invalid UTF-8 with U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
