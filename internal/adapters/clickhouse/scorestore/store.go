// Package scorestore is the scorer's ClickHouse side: it reads every account's scoring inputs
// in one set of batch queries, from session_days_raw and from the narrow copies of events_raw
// that materialized views keep (signal_events, account_event_names: migrations 0005 and
// 0007), and reads and writes the account_health history (table account_health_raw,
// migration 0004_health.sql).
//
// Invariants:
//   - ReadInputs returns one AccountInputs per account that has any event in events_raw,
//     in no particular order, each filled from all five input queries as of the server's
//     today() (UTC), so windows slide at midnight without any state in the scorer.
//   - Every query is exact before and after ClickHouse merges parts: duplicates of an event
//     or older versions of a session-day row never count (see queries.go).
//   - Rows are written with PrepareBatch and an explicit column list (ClickHouse 18.16), and
//     writing a row again (same account_id and rev) replaces it in the views.
package scorestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/engage-oss/engage/internal/health"
	"github.com/engage-oss/engage/internal/scorer"
)

// Store implements scorer.Source and scorer.History on a ClickHouse connection whose default
// database holds engage's tables.
type Store struct {
	conn driver.Conn
	now  func() time.Time
}

// New returns a Store on conn.
func New(conn driver.Conn) *Store { return &Store{conn: conn, now: time.Now} }

// Ping checks the connection.
func (s *Store) Ping(ctx context.Context) error { return s.conn.Ping(ctx) }

// inputsQuery is one of the input queries and how to apply a result row to an account.
type inputsQuery struct {
	name string
	sql  string
	args []any
	// scan reads one row: it returns the account id and a function that applies the row to
	// the account's inputs (run later, single-threaded, in the merge).
	scan func(rows driver.Rows) (string, func(*health.Inputs), error)
}

// ReadInputs runs the input queries concurrently and merges their rows by account.
// The accounts query lists every account; the others only those with data in their window.
func (s *Store) ReadInputs(ctx context.Context, w scorer.Windows, sc scorer.Scope) ([]scorer.AccountInputs, error) {
	if w.NPSDays < 1 || w.TicketsDays < 1 || w.ContractionDays < 1 {
		return nil, fmt.Errorf("reading inputs: windows %+v must be at least one day", w)
	}
	ctx = withQuerySize(ctx, sc)
	queries := inputQueries(w, sc)
	type result struct {
		ids    []string
		apply  []func(*health.Inputs)
		errors error
	}
	results := make([]result, len(queries))
	var wg sync.WaitGroup
	for i, q := range queries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids, apply, err := s.run(ctx, q)
			results[i] = result{ids, apply, err}
		}()
	}
	wg.Wait()
	var errs []error
	n := 0
	for _, r := range results {
		if r.errors != nil {
			errs = append(errs, r.errors)
		}
		n = max(n, len(r.ids))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	index := make(map[string]int, n)
	out := make([]scorer.AccountInputs, 0, n)
	for _, r := range results {
		for j, id := range r.ids {
			k, ok := index[id]
			if !ok {
				k = len(out)
				index[id] = k
				out = append(out, scorer.AccountInputs{AccountID: id})
			}
			if r.apply[j] != nil {
				r.apply[j](&out[k].Inputs)
			}
		}
	}
	return out, nil
}

func (s *Store) run(ctx context.Context, q inputsQuery) ([]string, []func(*health.Inputs), error) {
	rows, err := s.conn.Query(ctx, q.sql, q.args...)
	if err != nil {
		return nil, nil, fmt.Errorf("querying %s: %w", q.name, err)
	}
	defer rows.Close()
	var (
		ids   []string
		apply []func(*health.Inputs)
	)
	for rows.Next() {
		id, fn, err := q.scan(rows)
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", q.name, err)
		}
		ids = append(ids, id)
		apply = append(apply, fn)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", q.name, err)
	}
	return ids, apply, nil
}

// toInt converts a count or a JSON number read as Float64 to int, saturating instead of
// overflowing on absurd values.
func toInt(f float64) int {
	switch {
	case math.IsNaN(f):
		return 0
	case f >= math.MaxInt32:
		return math.MaxInt32
	case f <= math.MinInt32:
		return math.MinInt32
	}
	return int(math.Round(f))
}

func countInt(n uint64) int { return int(min(n, math.MaxInt32)) }

// withQuerySize raises the parser's limits for a query that lists accounts: max_query_size
// (256 KiB by default; 1 % of a million accounts is already about 150 KB of ids) and
// max_ast_elements (50 000; every listed id is an element).
func withQuerySize(ctx context.Context, sc scorer.Scope) context.Context {
	if len(sc.Accounts) < 1000 {
		return ctx
	}
	n := 0
	for _, id := range sc.Accounts {
		n += len(id) + 4
	}
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
		"max_query_size":            max(n+256<<10, 256<<10),
		"max_ast_elements":          50_000 + 2*len(sc.Accounts),
		"max_expanded_ast_elements": 500_000 + 2*len(sc.Accounts),
	}))
}

func inputQueries(w scorer.Windows, sc scorer.Scope) []inputsQuery {
	var qs []inputsQuery
	add := func(name string, build func() (string, []any), scan func(driver.Rows) (string, func(*health.Inputs), error)) {
		sql, args := build()
		qs = append(qs, inputsQuery{name: name, sql: sql, args: args, scan: scan})
	}
	add("accounts", func() (string, []any) { return AccountsQuery(sc) }, func(rows driver.Rows) (string, func(*health.Inputs), error) {
		var (
			id string
			n  uint64
		)
		err := rows.Scan(&id, &n)
		return id, func(in *health.Inputs) { in.FeaturesUsed30d = countInt(n) }, err
	})
	add("usage", func() (string, []any) { return UsageQuery(sc) }, func(rows driver.Rows) (string, func(*health.Inputs), error) {
		var (
			id             string
			dau, wau, mau  uint64
			activeDaysMask uint32
		)
		err := rows.Scan(&id, &dau, &wau, &mau, &activeDaysMask)
		return id, func(in *health.Inputs) {
			in.DAU, in.WAU, in.MAU = countInt(dau), countInt(wau), countInt(mau)
			in.ActiveDays14 = bits.OnesCount32(activeDaysMask & (1<<14 - 1))
		}, err
	})
	add("traits", func() (string, []any) { return TraitsQuery(w.ContractionDays, sc) }, scanTraits)
	add("nps", func() (string, []any) { return NPSQuery(w.NPSDays, sc) }, func(rows driver.Rows) (string, func(*health.Inputs), error) {
		var (
			id       string
			p, n, dt uint64
		)
		err := rows.Scan(&id, &p, &n, &dt)
		return id, func(in *health.Inputs) {
			in.NPS = health.NPSAnswers{Promoters: countInt(p), Passives: countInt(n), Detractors: countInt(dt)}
		}, err
	})
	add("tickets", func() (string, []any) { return TicketsQuery(w.TicketsDays, sc) }, func(rows driver.Rows) (string, func(*health.Inputs), error) {
		var (
			id string
			n  uint64
		)
		err := rows.Scan(&id, &n)
		return id, func(in *health.Inputs) { in.Tickets = countInt(n) }, err
	})
	return qs
}

func scanTraits(rows driver.Rows) (string, func(*health.Inputs), error) {
	var (
		id                              string
		seatsN, planN, mrrN, statusN    uint64
		seats, mrr                      float64
		plan, status                    string
		prevSeatsN, prevPlanN, prevMRRN uint64
		prevSeats, prevMRR              float64
		prevPlan                        string
	)
	err := rows.Scan(&id,
		&seatsN, &seats, &planN, &plan, &mrrN, &mrr, &statusN, &status,
		&prevSeatsN, &prevSeats, &prevPlanN, &prevPlan, &prevMRRN, &prevMRR)
	return id, func(in *health.Inputs) {
		if seatsN > 0 {
			v := toInt(seats)
			in.Seats = &v
		}
		if planN > 0 {
			in.Plan = plan
		}
		if mrrN > 0 {
			v := mrr
			in.MRR = &v
		}
		if statusN > 0 {
			v := status
			in.Status = &v
		}
		if prevSeatsN > 0 || prevPlanN > 0 || prevMRRN > 0 {
			prev := &health.Terms{}
			if prevSeatsN > 0 {
				v := toInt(prevSeats)
				prev.Seats = &v
			}
			if prevPlanN > 0 {
				prev.Plan = prevPlan
			}
			if prevMRRN > 0 {
				v := prevMRR
				prev.MRR = &v
			}
			in.Previous = prev
		}
	}, err
}

// LastRows returns each account's last account_health row, for the scorer's restore.
func (s *Store) LastRows(ctx context.Context, sc scorer.Scope) ([]scorer.Row, error) {
	q, args := LastRowsQuery(sc)
	rows, err := s.conn.Query(withQuerySize(ctx, sc), q, args...)
	if err != nil {
		return nil, fmt.Errorf("querying the last account_health rows: %w", err)
	}
	defer rows.Close()
	var out []scorer.Row
	for rows.Next() {
		var r scorer.Row
		hr := historyRow{}
		if err := rows.Scan(append([]any{&r.AccountID}, hr.dest()...)...); err != nil {
			return nil, fmt.Errorf("reading the last account_health rows: %w", err)
		}
		if err := hr.to(&r); err != nil {
			return nil, fmt.Errorf("reading the last account_health row of %q: %w", r.AccountID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the last account_health rows: %w", err)
	}
	return out, nil
}

// History returns up to limit of an account's rows, newest first.
func (s *Store) History(ctx context.Context, accountID string, limit int) ([]scorer.Row, error) {
	q, args := HistoryQuery(accountID, limit)
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("querying the health history of %q: %w", accountID, err)
	}
	defer rows.Close()
	var out []scorer.Row
	for rows.Next() {
		r := scorer.Row{AccountID: accountID}
		hr := historyRow{}
		if err := rows.Scan(hr.dest()...); err != nil {
			return nil, fmt.Errorf("reading the health history of %q: %w", accountID, err)
		}
		if err := hr.to(&r); err != nil {
			return nil, fmt.Errorf("reading the health history of %q: %w", accountID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the health history of %q: %w", accountID, err)
	}
	return out, nil
}

// historyRow is the Scan target of historyColumns.
type historyRow struct {
	rev, changeSeq uint64
	scoredAt       time.Time
	score          float64
	band           string
	comps          [health.NumComponents]*float64
	coverage       float64
	model          string
	reasons        []string
	inputs         string
}

func (h *historyRow) dest() []any {
	return []any{&h.rev, &h.scoredAt, &h.score, &h.band,
		&h.comps[health.ComponentUsage], &h.comps[health.ComponentNPS], &h.comps[health.ComponentTickets], &h.comps[health.ComponentBilling],
		&h.coverage, &h.model, &h.reasons, &h.inputs, &h.changeSeq}
}

func (h *historyRow) to(r *scorer.Row) error {
	band, err := health.ParseBand(h.band)
	if err != nil {
		return fmt.Errorf("rev %d: %w", h.rev, err)
	}
	r.Rev, r.ScoredAt, r.Band, r.ChangeSeq, r.Reasons = h.rev, h.scoredAt.UTC(), band, h.changeSeq, h.reasons
	r.Result = health.Result{Score: h.score, Coverage: h.coverage, ModelVersion: h.model}
	for i, c := range h.comps {
		if c != nil {
			r.Result.Components[i] = health.Component{Score: *c, Present: true}
		}
	}
	if h.inputs != "" {
		if err := json.Unmarshal([]byte(h.inputs), &r.Inputs); err != nil {
			return fmt.Errorf("rev %d: inputs: %w", h.rev, err)
		}
	}
	return nil
}

// Version is the ver of an account_health_raw row (the ReplacingMergeTree version that picks
// one of several copies of an (account_id, rev)): the fencing epoch of the writer above the
// write time in milliseconds, so that the copy written by a partition's later owner wins
// over a late write of a paused predecessor, and of one owner's copies the last written.
// Milliseconds fit in 44 bits until the year 2527; epochs are at most 15 bits.
func Version(fence int16, unixMilli uint64) uint64 {
	return uint64(max(fence, 0))<<44 | unixMilli&(1<<44-1)
}

// WriteRows inserts rows into account_health_raw.
func (s *Store) WriteRows(ctx context.Context, rows []scorer.Row) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	var (
		ids, bands, models, inputs = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		revs, seqs, vers           = make([]uint64, n), make([]uint64, n), make([]uint64, n)
		at                         = make([]time.Time, n)
		scores, coverage           = make([]float64, n), make([]float64, n)
		comps                      [health.NumComponents][]*float64
		reasons                    = make([][]string, n)
	)
	for c := range comps {
		comps[c] = make([]*float64, n)
	}
	ms := uint64(s.now().UnixMilli())
	for i := range rows {
		r := &rows[i]
		ver := Version(r.Fence, ms)
		b, err := json.Marshal(r.Inputs)
		if err != nil {
			return fmt.Errorf("encoding inputs of %q: %w", r.AccountID, err)
		}
		ids[i], bands[i], models[i], inputs[i] = r.AccountID, r.Band.String(), r.Result.ModelVersion, string(b)
		revs[i], seqs[i], vers[i] = r.Rev, r.ChangeSeq, ver
		at[i], scores[i], coverage[i] = r.ScoredAt, r.Result.Score, r.Result.Coverage
		for c, comp := range r.Result.Components {
			if comp.Present {
				v := comp.Score
				comps[c][i] = &v
			}
		}
		reasons[i] = r.Reasons
		if reasons[i] == nil {
			reasons[i] = []string{}
		}
	}
	cols := []any{ids, revs, at, scores, bands,
		comps[health.ComponentUsage], comps[health.ComponentNPS], comps[health.ComponentTickets], comps[health.ComponentBilling],
		coverage, models, reasons, inputs, seqs, vers}
	b, err := s.conn.PrepareBatch(ctx, insertHistory)
	if err != nil {
		return fmt.Errorf("preparing insert into account_health_raw: %w", err)
	}
	for i, c := range cols {
		if err := b.Column(i).Append(c); err != nil {
			_ = b.Abort()
			return fmt.Errorf("appending column %d of account_health_raw: %w", i, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("inserting %d rows into account_health_raw: %w", n, err)
	}
	return nil
}

// LatestRow returns an account's last account_health row and when it entered the row's
// band, for the read API of an instance that does not own the account.
func (s *Store) LatestRow(ctx context.Context, accountID string) (scorer.LatestRow, bool, error) {
	rows, err := s.History(ctx, accountID, 1)
	if err != nil || len(rows) == 0 {
		return scorer.LatestRow{}, false, err
	}
	lr := scorer.LatestRow{Row: rows[0]}
	since, err := s.bandSince(ctx, []scorer.Row{rows[0]})
	if err != nil {
		return scorer.LatestRow{}, false, err
	}
	lr.BandSince = since[accountID]
	return lr, true, nil
}

// LatestRows pages through every account's last row, filtered by band and plan.
func (s *Store) LatestRows(ctx context.Context, f scorer.Filter, after string, limit int) ([]scorer.LatestRow, bool, error) {
	q, args := LatestRowsQuery(f, after, limit+1)
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("querying the latest account_health rows: %w", err)
	}
	defer rows.Close()
	var page []scorer.Row
	for rows.Next() {
		var r scorer.Row
		hr := historyRow{}
		if err := rows.Scan(append([]any{&r.AccountID}, hr.dest()...)...); err != nil {
			return nil, false, fmt.Errorf("reading the latest account_health rows: %w", err)
		}
		if err := hr.to(&r); err != nil {
			return nil, false, fmt.Errorf("reading the latest account_health row of %q: %w", r.AccountID, err)
		}
		page = append(page, r)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("reading the latest account_health rows: %w", err)
	}
	more := len(page) > limit
	if more {
		page = page[:limit]
	}
	since, err := s.bandSince(ctx, page)
	if err != nil {
		return nil, false, err
	}
	out := make([]scorer.LatestRow, len(page))
	for i, r := range page {
		out[i] = scorer.LatestRow{Row: r, BandSince: since[r.AccountID]}
	}
	return out, more, nil
}

// bandSince finds, for each row, the scored_at of its account's first row with the same
// change_seq: when the account entered the band.
func (s *Store) bandSince(ctx context.Context, rows []scorer.Row) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	want := make(map[string]uint64, len(rows))
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i], want[r.AccountID] = r.AccountID, r.ChangeSeq
	}
	cond, args := ScopeCondition(scorer.Scope{Accounts: ids})
	q := `SELECT account_id, change_seq, min(scored_at) FROM account_health_raw WHERE ` + cond + ` GROUP BY account_id, change_seq`
	res, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("querying when %d accounts entered their bands: %w", len(ids), err)
	}
	defer res.Close()
	for res.Next() {
		var (
			id  string
			seq uint64
			at  time.Time
		)
		if err := res.Scan(&id, &seq, &at); err != nil {
			return nil, fmt.Errorf("reading when accounts entered their bands: %w", err)
		}
		if want[id] == seq {
			out[id] = at.UTC()
		}
	}
	return out, res.Err()
}
