package scorer

import (
	"testing"
	"time"

	"github.com/engage-oss/engage/internal/health"
)

func changeRecord(t *testing.T, account string, seq uint64, prev, band health.Band, score float64, at time.Time, partition int32, offset int64) Record {
	t.Helper()
	m := health.DefaultModel()
	in := health.Inputs{MAU: int(seq), Plan: "p" + account}
	c := Change{AccountID: account, Seq: seq, PreviousBand: prev, Band: band, Score: score, ScoredAt: at,
		Components: health.Score(m, in).Components, ModelVersion: m.Version, Coverage: 0.9, Inputs: in}
	r, err := c.ToRecord()
	if err != nil {
		t.Fatal(err)
	}
	r.Partition, r.Offset = partition, offset
	return r
}

// TestRestoreFromRecords pins how the announcement state is rebuilt from the topic: the
// change with the highest sequence wins wherever it is, foreign and unreadable records are
// skipped and counted, and the record's inputs header becomes the reasons' baseline.
func TestRestoreFromRecords(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	foreign := Record{Value: []byte(`{"specversion":"1.0","id":"x","source":"crm","type":"com.example","subject":"a","data":{}}`), Partition: 1, Offset: 9}
	records := []Record{
		changeRecord(t, "a", 1, health.BandNone, health.BandGreen, 80, t0, 0, 0),
		changeRecord(t, "b", 1, health.BandNone, health.BandYellow, 50, t0, 1, 0),
		// a's third change sits before its second, as after a repartitioning.
		changeRecord(t, "a", 3, health.BandYellow, health.BandRed, 30, t0.Add(2*time.Hour), 2, 0),
		changeRecord(t, "a", 2, health.BandGreen, health.BandYellow, 60, t0.Add(time.Hour), 0, 1),
		foreign,
		{Value: []byte("garbage"), Partition: 1, Offset: 10},
		// A redelivered copy of b's first change.
		changeRecord(t, "b", 1, health.BandNone, health.BandYellow, 50, t0, 1, 11),
	}
	r := newRestorer(health.DefaultModel())
	for _, rec := range records {
		_ = r.addRecord(rec)
	}
	if r.skipped != 2 {
		t.Errorf("skipped %d records, want 2 (foreign and garbage)", r.skipped)
	}
	accs := r.accounts()
	tests := []struct {
		account   string
		seq       uint64
		band      health.Band
		since     time.Time
		score     float64
		entryMAU  int
		entryPlan string
	}{
		{"a", 3, health.BandRed, t0.Add(2 * time.Hour), 30, 3, "pa"},
		{"b", 1, health.BandYellow, t0, 50, 1, "pb"},
	}
	for _, tt := range tests {
		t.Run(tt.account, func(t *testing.T) {
			a := accs[tt.account]
			if a == nil {
				t.Fatal("account not restored")
			}
			ann := a.ann
			if ann.seq != tt.seq || ann.band != tt.band || !ann.since.Equal(tt.since) || ann.entry.Score != tt.score {
				t.Errorf("announcement seq %d band %s since %v score %v, want %d %s %v %v",
					ann.seq, ann.band, ann.since, ann.entry.Score, tt.seq, tt.band, tt.since, tt.score)
			}
			if ann.entryIn.MAU != tt.entryMAU || ann.entryIn.Plan != tt.entryPlan {
				t.Errorf("entry inputs %+v, want mau %d plan %s from the header", ann.entryIn, tt.entryMAU, tt.entryPlan)
			}
			if !ann.entry.Components[health.ComponentUsage].Present || ann.entry.Coverage != 0.9 {
				t.Errorf("entry result %+v lacks the event's components", ann.entry)
			}
			if a.view == nil || a.view.Band != tt.band || a.view.Score != tt.score {
				t.Errorf("view %+v", a.view)
			}
		})
	}
}

// TestRestoreMergesRows pins how rows and topic combine: the row is restored as the last
// row; a row that names a later change than the topic holds (lost records) supplies the
// announcement; weights missing from stored rows are recomputed from the model.
func TestRestoreMergesRows(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m := health.DefaultModel()
	row := func(account string, rev, seq uint64, band health.Band, score float64) Row {
		r := Row{AccountID: account, Rev: rev, ScoredAt: t0.Add(time.Duration(rev) * time.Minute), Band: band, ChangeSeq: seq,
			Result: health.Result{Score: score, Coverage: 0.9, ModelVersion: m.Version}}
		r.Result.Components[health.ComponentUsage] = health.Component{Score: score, Present: true}
		r.Result.Components[health.ComponentBilling] = health.Component{Score: score, Present: true}
		return r
	}
	r := newRestorer(m)
	_ = r.addRecord(changeRecord(t, "a", 2, health.BandGreen, health.BandYellow, 60, t0, 0, 0))
	_ = r.addRecord(changeRecord(t, "b", 1, health.BandNone, health.BandGreen, 90, t0, 0, 1))
	r.addRow(row("a", 7, 2, health.BandYellow, 58)) // topic and row agree
	r.addRow(row("a", 5, 2, health.BandYellow, 61)) // an older row of a: ignored
	r.addRow(row("b", 4, 3, health.BandRed, 20))    // the topic lost b's change 3
	r.addRow(row("c", 1, 1, health.BandPower, 120)) // the topic lost all of c
	accs := r.accounts()

	tests := []struct {
		account  string
		rowRev   uint64
		seq      uint64
		band     health.Band
		viewScr  float64
		entryScr float64
	}{
		{"a", 7, 2, health.BandYellow, 58, 60},
		{"b", 4, 3, health.BandRed, 20, 20},
		{"c", 1, 1, health.BandPower, 120, 120},
	}
	for _, tt := range tests {
		t.Run(tt.account, func(t *testing.T) {
			a := accs[tt.account]
			if a.row == nil || a.row.Rev != tt.rowRev {
				t.Fatalf("row %+v, want rev %d", a.row, tt.rowRev)
			}
			if a.ann.seq != tt.seq || a.ann.band != tt.band || a.ann.entry.Score != tt.entryScr {
				t.Errorf("announcement seq %d band %s entry score %v, want %d %s %v", a.ann.seq, a.ann.band, a.ann.entry.Score, tt.seq, tt.band, tt.entryScr)
			}
			if a.view.Score != tt.viewScr || a.view.Band != tt.band {
				t.Errorf("view score %v band %s, want %v %s (the last row's score, the announced band)", a.view.Score, a.view.Band, tt.viewScr, tt.band)
			}
			if w := a.row.Result.Components[health.ComponentUsage].Weight; w != 0.571 {
				t.Errorf("usage weight of a stored row = %v, want 40/(40+30) = 0.571", w)
			}
		})
	}
}
