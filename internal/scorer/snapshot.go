package scorer

import (
	"slices"
	"strings"
	"time"

	"github.com/engage-oss/engage/internal/health"
)

// AccountHealth is an account's current health as the read API shows it: its latest score
// (the latest account_health row) and the band announced on engagement.health.changes.
// Values are never modified once in a Snapshot.
type AccountHealth struct {
	AccountID string
	Score     float64
	// Band is the announced band (after hysteresis), not Bands.Of(Score): the two differ
	// while a score sits within the hysteresis margin of a bound.
	Band health.Band
	// BandSince is when the account entered Band (the time of its last health-change
	// event); zero if unknown.
	BandSince    time.Time
	Components   health.Components
	Reasons      []string
	Coverage     float64
	ModelVersion string
	// ScoredAt is when the score was computed (the row's scored_at).
	ScoredAt time.Time
	// Plan is the account's latest plan trait, for filtering lists.
	Plan   string
	Inputs health.Inputs
}

// newView builds an account's AccountHealth from its state; nil when the account has never
// been scored.
func newView(a *account) *AccountHealth {
	v := &AccountHealth{AccountID: a.id, Band: a.ann.band, BandSince: a.ann.since}
	switch {
	case a.row != nil:
		r := a.row
		v.Score, v.Components, v.Coverage, v.ModelVersion = r.Result.Score, r.Result.Components, r.Result.Coverage, r.Result.ModelVersion
		v.Reasons, v.ScoredAt, v.Inputs, v.Plan = r.Reasons, r.ScoredAt, r.Inputs, r.Inputs.Plan
	case a.ann.seq > 0:
		e := a.ann.entry
		v.Score, v.Components, v.Coverage, v.ModelVersion = e.Score, e.Components, e.Coverage, e.ModelVersion
		v.ScoredAt, v.Inputs, v.Plan = a.ann.since, a.ann.entryIn, a.ann.entryIn.Plan
	default:
		return nil
	}
	if v.Reasons == nil {
		v.Reasons = []string{}
	}
	return v
}

// Snapshot is the result of one rescoring: every scored account's health, sorted by account
// id. It is immutable, so the read API uses it without locks while the next rescoring runs.
type Snapshot struct {
	// At is when the rescoring that made the snapshot ran; zero for a snapshot restored at
	// start, before the first rescoring.
	At       time.Time
	accounts []*AccountHealth // sorted by AccountID
}

// NewSnapshot sorts accounts by id into a Snapshot; for tests and fakes.
func NewSnapshot(at time.Time, accounts []*AccountHealth) *Snapshot {
	s := &Snapshot{At: at, accounts: slices.Clone(accounts)}
	slices.SortFunc(s.accounts, func(a, b *AccountHealth) int { return strings.Compare(a.AccountID, b.AccountID) })
	return s
}

// Len is the number of accounts.
func (s *Snapshot) Len() int { return len(s.accounts) }

// Get returns an account's health, or nil when the account has no score.
func (s *Snapshot) Get(accountID string) *AccountHealth {
	i, ok := slices.BinarySearchFunc(s.accounts, accountID, func(a *AccountHealth, id string) int {
		return strings.Compare(a.AccountID, id)
	})
	if !ok {
		return nil
	}
	return s.accounts[i]
}

// Filter selects accounts in List; a zero field matches every account.
type Filter struct {
	Band health.Band
	Plan string
}

func (f Filter) match(a *AccountHealth) bool {
	return (f.Band == health.BandNone || a.Band == f.Band) && (f.Plan == "" || a.Plan == f.Plan)
}

// List returns up to limit accounts matching f whose id sorts after the id after (all when
// after is empty), in id order, and whether more follow. Paging by account id keeps pages
// stable while scores change between requests: an account is never shown twice nor skipped
// because another one changed band.
func (s *Snapshot) List(f Filter, after string, limit int) (page []*AccountHealth, more bool) {
	i := 0
	if after != "" {
		i, _ = slices.BinarySearchFunc(s.accounts, after, func(a *AccountHealth, id string) int {
			return strings.Compare(a.AccountID, id)
		})
		if i < len(s.accounts) && s.accounts[i].AccountID == after {
			i++
		}
	}
	for ; i < len(s.accounts); i++ {
		a := s.accounts[i]
		if !f.match(a) {
			continue
		}
		if len(page) == limit {
			return page, true
		}
		page = append(page, a)
	}
	return page, false
}
