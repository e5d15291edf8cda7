package scorer

import (
	"math"
	"time"

	"github.com/engage-oss/engage/internal/health"
)

// announcement is what engagement.health.changes says about an account: the band of its last
// health-change event and what is needed to decide and explain the next one.
type announcement struct {
	seq   uint64      // Change.Seq of the last event; 0: never announced
	band  health.Band // BandNone when seq is 0
	since time.Time   // ScoredAt of the last event, for the model's min_dwell
	// entry and entryIn are the result and inputs the account entered band with: the
	// baseline of health.Reasons, and entry.Score is the next event's previous_score.
	entry   health.Result
	entryIn health.Inputs
}

// announcement is the state that announcing c leaves its account in.
func (c *Change) announcement(m *health.Model) announcement {
	return announcement{seq: c.Seq, band: c.Band, since: c.ScoredAt, entry: c.result(m), entryIn: c.Inputs}
}

// account is the scorer's state of one account.
type account struct {
	id   string
	part int32 // the account's partition (topics.AccountPartition)
	ann  announcement
	// row is the account's last account_health row, nil before the first one.
	row *Row
	// view is what the read API shows; replaced, never modified, so a Snapshot may share it.
	view *AccountHealth
}

// restorer rebuilds the accounts' state at start: the announcements from the records of
// engagement.health.changes and the last account_health rows. Feed it every record with
// addRecord and every row with addRow, in any order, then call accounts.
type restorer struct {
	m    *health.Model
	anns map[string]announcement
	rows map[string]*Row
	// skipped counts records that are not health changes of this scorer or cannot be read.
	skipped int
}

func newRestorer(m *health.Model) *restorer {
	return &restorer{m: m, anns: map[string]announcement{}, rows: map[string]*Row{}}
}

// addRecord takes one record of the topic. An account's announcement is the change with the
// highest sequence number, wherever it is on the topic: with the key account_id every change
// of an account is on one partition in order, but the highest sequence is right even if the
// topic was repartitioned.
func (r *restorer) addRecord(rec Record) error {
	c, err := ParseRecord(rec)
	if err != nil {
		r.skipped++
		return err
	}
	if cur, ok := r.anns[c.AccountID]; ok && cur.seq >= c.Seq {
		return nil
	}
	r.anns[c.AccountID] = c.announcement(r.m)
	return nil
}

// addRow takes an account's last account_health row.
func (r *restorer) addRow(row Row) {
	if cur, ok := r.rows[row.AccountID]; ok && cur.Rev >= row.Rev {
		return
	}
	fillWeights(r.m, &row.Result.Components)
	r.rows[row.AccountID] = &row
}

// fillWeights sets the effective weights of the present components from the model's
// weights, as health.Score does: account_health stores component scores, not weights, and
// health.Reasons weighs a component that lost its data by its previous weight.
func fillWeights(m *health.Model, cs *health.Components) {
	w := [health.NumComponents]float64{
		m.Components.Usage.Weight, m.Components.NPS.Weight, m.Components.Tickets.Weight, m.Components.Billing.Weight,
	}
	var sum float64
	for i, c := range cs {
		if c.Present {
			sum += w[i]
		}
	}
	if sum <= 0 {
		return
	}
	for i := range cs {
		if cs[i].Present {
			cs[i].Weight = math.Round(w[i]/sum*1000) / 1000
		}
	}
}

// accounts merges topic and rows. The topic is the authority on what was announced, but a
// row records the change that announced its band (ChangeSeq), so when a row knows a later
// change than the topic (the topic lost records to retention, or was recreated), the row's
// band is the announcement: re-announcing it would send a duplicate. The band's entry time
// is then approximated by the row's time.
func (r *restorer) accounts() map[string]*account {
	out := make(map[string]*account, max(len(r.anns), len(r.rows)))
	for id, ann := range r.anns {
		out[id] = &account{id: id, ann: ann}
	}
	for id, row := range r.rows {
		a := out[id]
		if a == nil {
			a = &account{id: id}
			out[id] = a
		}
		a.row = row
		if row.ChangeSeq > a.ann.seq {
			a.ann = announcement{
				seq:     row.ChangeSeq,
				band:    row.Band,
				since:   row.ScoredAt,
				entry:   row.Result,
				entryIn: row.Inputs,
			}
		}
	}
	for _, a := range out {
		a.view = newView(a)
	}
	return out
}
