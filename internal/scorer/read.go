package scorer

import (
	"context"
	"fmt"
	"time"
)

// LatestRow is an account's last account_health row and when it entered the row's band
// (the scored_at of the first row that carries the row's ChangeSeq).
type LatestRow struct {
	Row       Row
	BandSince time.Time
}

// Latest reads the health of accounts this instance does not own, for the read API: every
// instance answers for every account.
type Latest interface {
	// LatestRow returns an account's last row; ok is false when it has none.
	LatestRow(ctx context.Context, accountID string) (LatestRow, bool, error)
	// LatestRows returns, in account id order, up to limit accounts whose id sorts after
	// after and whose last row matches f, and whether more follow.
	LatestRows(ctx context.Context, f Filter, after string, limit int) ([]LatestRow, bool, error)
}

// view builds what the read API shows from an account's last row, with the weights of the
// current model (rows store component scores, not weights).
func (s *Scorer) view(lr LatestRow) *AccountHealth {
	row := lr.Row
	fillWeights(s.deps.Model.Model(), &row.Result.Components)
	a := &account{id: row.AccountID, row: &row, ann: announcement{seq: row.ChangeSeq, band: row.Band, since: lr.BandSince}}
	return newView(a)
}

// Health returns an account's health: from memory when this instance owns its partition,
// otherwise from its last account_health row (Deps.Latest). Nil when it has none.
func (s *Scorer) Health(ctx context.Context, accountID string) (*AccountHealth, error) {
	if s.Owns(accountID) || s.deps.Latest == nil {
		return s.Snapshot().Get(accountID), nil
	}
	lr, ok, err := s.deps.Latest.LatestRow(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("reading the latest health of %q: %w", accountID, err)
	}
	if !ok {
		return nil, nil
	}
	return s.view(lr), nil
}

// List pages through every account's health (Snapshot.List). An instance that owns every
// partition answers from memory; otherwise the page comes from account_health, which every
// instance writes.
func (s *Scorer) List(ctx context.Context, f Filter, after string, limit int) ([]*AccountHealth, bool, error) {
	if int32(len(s.Owned())) == s.cfg.Partitions || s.deps.Latest == nil {
		page, more := s.Snapshot().List(f, after, limit)
		return page, more, nil
	}
	rows, more, err := s.deps.Latest.LatestRows(ctx, f, after, limit)
	if err != nil {
		return nil, false, fmt.Errorf("listing accounts: %w", err)
	}
	page := make([]*AccountHealth, len(rows))
	for i, lr := range rows {
		page[i] = s.view(lr)
	}
	return page, more, nil
}
