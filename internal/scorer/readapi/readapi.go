// Package readapi is the scorer's read API: CS tools and dashboards ask for an account's
// current health, its history, and lists of accounts by band and plan.
//
//	GET /v1/accounts/{id}/health              latest score, band, components, reasons, …
//	GET /v1/accounts/{id}/health/history      rows of account_health, newest first (?limit=)
//	GET /v1/accounts?band=&plan=&limit=&cursor=   accounts by id, paginated
//
// Invariants:
//   - Every request needs "Authorization: Bearer <read key>". Read keys are not write keys:
//     a write key lives in every browser that runs the product, a read key exposes the
//     customer base. Only SHA-256 digests of the keys are kept.
//   - Every instance answers for every account. Current health comes from the scorer's
//     memory for the accounts of the partitions it owns, and from the account's last
//     account_health row for the others; lists from memory on an instance that owns every
//     partition, otherwise from account_health. History comes from ClickHouse.
//   - Errors are JSON {"error": "…"} with the status: 400 bad parameter, 401 missing or
//     unknown key, 404 unknown path or account, 405 other methods than GET, 503 before the
//     scorer has restored its state or while ClickHouse does not answer.
//   - An account id containing '/' must be sent percent-encoded (%2F) in a path.
package readapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/engage-oss/engage/internal/health"
	"github.com/engage-oss/engage/internal/scorer"
)

// DevReadKey is the read key accepted in dev mode.
const DevReadKey = "dev-read-key"

// Limits of the list and history endpoints.
const (
	DefaultListLimit    = 50
	DefaultHistoryLimit = 100
	MaxLimit            = 1000
)

// Scores is the scorer: current health from memory for the accounts of its partitions, and
// from account_health for the others (scorer.Scorer.Health and List).
type Scores interface {
	Ready(ctx context.Context) error
	Health(ctx context.Context, accountID string) (*scorer.AccountHealth, error)
	List(ctx context.Context, f scorer.Filter, after string, limit int) ([]*scorer.AccountHealth, bool, error)
}

// HistoryReader reads an account's account_health rows, newest first.
type HistoryReader interface {
	History(ctx context.Context, accountID string, limit int) ([]scorer.Row, error)
}

// Config configures the Handler.
type Config struct {
	// Keys are the accepted read keys. Required unless DevMode.
	Keys []string
	// DevMode also accepts DevReadKey. Default false.
	DevMode bool
}

// ErrNoKeys is returned by NewHandler when no read key is configured outside dev mode.
var ErrNoKeys = errors.New("no read keys: set READ_KEYS (or ENGAGE_DEV=true for the dev key)")

// Handler serves the read API.
type Handler struct {
	keys     [][sha256.Size]byte
	scores   Scores
	history  HistoryReader
	log      *zap.Logger
	requests *prometheus.CounterVec
}

// NewHandler checks cfg and builds the handler.
func NewHandler(cfg Config, scores Scores, history HistoryReader, log *zap.Logger, reg prometheus.Registerer) (*Handler, error) {
	keys := cfg.Keys
	if cfg.DevMode {
		keys = append(keys[:len(keys):len(keys)], DevReadKey)
	}
	if len(keys) == 0 {
		return nil, ErrNoKeys
	}
	h := &Handler{scores: scores, history: history, log: log}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	for i, k := range keys {
		if k == "" || strings.ContainsAny(k, " \t,") || len(k) > 256 {
			return nil, fmt.Errorf("read key %d: must be 1..256 characters without blanks or commas", i+1)
		}
		h.keys = append(h.keys, sha256.Sum256([]byte(k)))
	}
	h.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "engage_scorer_api_requests_total",
		Help: "Read API requests by endpoint and status code."}, []string{"endpoint", "code"})
	if reg != nil {
		reg.MustRegister(h.requests)
	}
	return h, nil
}

// apiError is a response with {"error": msg}.
type apiError struct {
	status int
	msg    string
}

func errorf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// route is a parsed request path.
type route struct {
	endpoint string // metric label: list, health, history, other
	account  string
}

func parsePath(r *http.Request) (route, *apiError) {
	p := r.URL.EscapedPath()
	if p == "/v1/accounts" || p == "/v1/accounts/" {
		return route{endpoint: "list"}, nil
	}
	rest, ok := strings.CutPrefix(p, "/v1/accounts/")
	if ok {
		seg, tail, _ := strings.Cut(rest, "/")
		id, err := url.PathUnescape(seg)
		if err == nil && id != "" {
			switch tail {
			case "health":
				return route{endpoint: "health", account: id}, nil
			case "health/history":
				return route{endpoint: "history", account: id}, nil
			}
		}
	}
	return route{endpoint: "other"}, errorf(http.StatusNotFound, "no such endpoint: %s", truncate(r.URL.Path, 128))
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, aerr := parsePath(r)
	if aerr == nil && r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		aerr = errorf(http.StatusMethodNotAllowed, "method %s not allowed: use GET", truncate(r.Method, 16))
	}
	if aerr == nil {
		aerr = h.authorize(r)
		if aerr != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="engage"`)
		}
	}
	if aerr == nil {
		if err := h.scores.Ready(r.Context()); err != nil {
			w.Header().Set("Retry-After", "5")
			aerr = errorf(http.StatusServiceUnavailable, "scores are not ready yet: %v", err)
		}
	}
	var (
		body any
		err  error
	)
	if aerr == nil {
		switch rt.endpoint {
		case "list":
			body, aerr, err = h.list(r)
		case "health":
			body, aerr, err = h.health(r, rt.account)
		case "history":
			body, aerr, err = h.historyOf(r, rt.account)
		}
	}
	if err != nil {
		h.log.Warn("reading health failed", zap.String("endpoint", rt.endpoint), zap.String("account_id", rt.account), zap.Error(err))
		aerr = errorf(http.StatusServiceUnavailable, "health data is unavailable; retry later")
		w.Header().Set("Retry-After", "5")
	}
	status := http.StatusOK
	if aerr != nil {
		status, body = aerr.status, map[string]string{"error": aerr.msg}
	}
	h.requests.WithLabelValues(rt.endpoint, strconv.Itoa(status)).Inc()
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the response failed"}`)
	}
	b = append(b, '\n')
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(b)))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (h *Handler) authorize(r *http.Request) *apiError {
	a := r.Header.Get("Authorization")
	if a == "" {
		return errorf(http.StatusUnauthorized, "missing read key: send Authorization: Bearer <read key>")
	}
	scheme, key, _ := strings.Cut(a, " ")
	key = strings.TrimSpace(key)
	if !strings.EqualFold(scheme, "Bearer") || key == "" {
		return errorf(http.StatusUnauthorized, "unsupported Authorization: send Bearer <read key>")
	}
	if len(key) > 256 {
		return errorf(http.StatusUnauthorized, "unknown read key")
	}
	d := sha256.Sum256([]byte(key))
	found := 0
	for i := range h.keys { // no early exit: the time taken does not tell which key matched
		found |= subtle.ConstantTimeCompare(d[:], h.keys[i][:])
	}
	if found == 0 {
		return errorf(http.StatusUnauthorized, "unknown read key")
	}
	return nil
}

// accountJSON is an account's current health in responses.
type accountJSON struct {
	AccountID    string            `json:"account_id"`
	Score        float64           `json:"score"`
	Band         health.Band       `json:"band"`
	BandSince    *string           `json:"band_since"`
	ScoredAt     string            `json:"scored_at"`
	Components   health.Components `json:"components"`
	Reasons      []string          `json:"reasons"`
	Coverage     float64           `json:"coverage"`
	ModelVersion string            `json:"model_version"`
	Plan         string            `json:"plan,omitempty"`
	Inputs       health.Inputs     `json:"inputs"`
	History      string            `json:"history"`
}

func historyPath(accountID string) string {
	return "/v1/accounts/" + url.PathEscape(accountID) + "/health/history"
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func toJSON(a *scorer.AccountHealth) accountJSON {
	out := accountJSON{
		AccountID:    a.AccountID,
		Score:        a.Score,
		Band:         a.Band,
		ScoredAt:     formatTime(a.ScoredAt),
		Components:   a.Components,
		Reasons:      a.Reasons,
		Coverage:     a.Coverage,
		ModelVersion: a.ModelVersion,
		Plan:         a.Plan,
		Inputs:       a.Inputs,
		History:      historyPath(a.AccountID),
	}
	if !a.BandSince.IsZero() {
		s := formatTime(a.BandSince)
		out.BandSince = &s
	}
	if out.Reasons == nil {
		out.Reasons = []string{}
	}
	return out
}

func (h *Handler) health(r *http.Request, accountID string) (any, *apiError, error) {
	a, err := h.scores.Health(r.Context(), accountID)
	if err != nil {
		return nil, nil, err
	}
	if a == nil {
		return nil, errorf(http.StatusNotFound, "no health score for account %q", truncate(accountID, 256)), nil
	}
	return toJSON(a), nil, nil
}

// limitParam reads ?limit=, def when absent.
func limitParam(q url.Values, def int) (int, *apiError) {
	s := q.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, errorf(http.StatusBadRequest, "limit %q: want an integer from 1 to %d", truncate(s, 32), MaxLimit)
	}
	return n, nil
}

type listJSON struct {
	Accounts   []accountJSON `json:"accounts"`
	NextCursor *string       `json:"next_cursor"`
}

// The cursor is the last account id of the previous page, base64url-encoded: opaque to
// clients, and safe in a query string whatever the id contains.
func encodeCursor(accountID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(accountID))
}

func decodeCursor(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return "", errors.New("malformed cursor")
	}
	return string(b), nil
}

func (h *Handler) list(r *http.Request) (any, *apiError, error) {
	q := r.URL.Query()
	var f scorer.Filter
	if s := q.Get("band"); s != "" {
		b, err := health.ParseBand(s)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "band: %v", err), nil
		}
		f.Band = b
	}
	f.Plan = q.Get("plan")
	limit, aerr := limitParam(q, DefaultListLimit)
	if aerr != nil {
		return nil, aerr, nil
	}
	var after string
	if c := q.Get("cursor"); c != "" {
		var err error
		if after, err = decodeCursor(c); err != nil {
			return nil, errorf(http.StatusBadRequest, "cursor %q: %v; pass next_cursor from the previous page", truncate(c, 64), err), nil
		}
	}
	page, more, err := h.scores.List(r.Context(), f, after, limit)
	if err != nil {
		return nil, nil, err
	}
	out := listJSON{Accounts: make([]accountJSON, 0, len(page))}
	for _, a := range page {
		out.Accounts = append(out.Accounts, toJSON(a))
	}
	if more {
		c := encodeCursor(page[len(page)-1].AccountID)
		out.NextCursor = &c
	}
	return out, nil, nil
}

type historyJSON struct {
	AccountID string           `json:"account_id"`
	History   []historyRowJSON `json:"history"`
}

// historyRowJSON is one account_health row: component scores only (null: no data), as in
// the view.
type historyRowJSON struct {
	ScoredAt     string              `json:"scored_at"`
	Score        float64             `json:"score"`
	Band         health.Band         `json:"band"`
	Components   map[string]*float64 `json:"components"`
	Coverage     float64             `json:"coverage"`
	ModelVersion string              `json:"model_version"`
	Reasons      []string            `json:"reasons"`
}

func (h *Handler) historyOf(r *http.Request, accountID string) (any, *apiError, error) {
	limit, aerr := limitParam(r.URL.Query(), DefaultHistoryLimit)
	if aerr != nil {
		return nil, aerr, nil
	}
	rows, err := h.history.History(r.Context(), accountID, limit)
	if err != nil {
		return nil, nil, err
	}
	if len(rows) == 0 {
		// A scored account whose first row is not written yet has an empty history.
		if a, err := h.scores.Health(r.Context(), accountID); err != nil || a != nil {
			return historyJSON{AccountID: accountID, History: []historyRowJSON{}}, nil, err
		}
		return nil, errorf(http.StatusNotFound, "no health score for account %q", truncate(accountID, 256)), nil
	}
	out := historyJSON{AccountID: accountID, History: make([]historyRowJSON, 0, len(rows))}
	for _, row := range rows {
		hr := historyRowJSON{
			ScoredAt:     formatTime(row.ScoredAt),
			Score:        row.Result.Score,
			Band:         row.Band,
			Components:   make(map[string]*float64, health.NumComponents),
			Coverage:     row.Result.Coverage,
			ModelVersion: row.Result.ModelVersion,
			Reasons:      row.Reasons,
		}
		for i, c := range row.Result.Components {
			var v *float64
			if c.Present {
				s := c.Score
				v = &s
			}
			hr.Components[health.ComponentID(i).String()] = v
		}
		if hr.Reasons == nil {
			hr.Reasons = []string{}
		}
		out.History = append(out.History, hr)
	}
	return out, nil, nil
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
