package bench

import (
	"cmp"
	"context"
	"fmt"
	"strconv"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ScorerHistory is the shape of the synthetic history GenerateScorerHistory writes.
type ScorerHistory struct {
	Accounts int
	// SessionDays is the number of session-day rows per account (default 40), Events the
	// number of events (default 24, at least 8: the business signals come first).
	SessionDays, Events int
}

// GenerateScorerHistory fills events_raw and session_days_raw of conn's database with
// h.Accounts accounts (acct-0, acct-1, …) of synthetic history, inside ClickHouse
// (INSERT … SELECT from numbers()), for the scorer's benchmarks:
//
//   - session_days_raw: SessionDays session-day rows per account, spread over 1–8 users and
//     the last 30 days, plus an older, idle version of one in ten of them, so the FINAL
//     de-duplication has work to do;
//   - events_raw: Events events per account: two $account events (one older than 30 days,
//     so contraction has a baseline), three $nps answers, two $ticket events and product
//     events over 12 feature names, some older than 30 days.
//
// Traits, answers and tickets vary with the account number, and so do the bands: one account
// in ten has no session at all, one in ten has bought 2 seats for up to 8 users (power).
// The tables are merged afterwards, as a long-running table mostly is.
func GenerateScorerHistory(ctx context.Context, conn driver.Conn, h ScorerHistory) error {
	n := h.Accounts
	days, events := cmp.Or(h.SessionDays, 40), max(cmp.Or(h.Events, 24), 8)
	stmts := []string{
		`INSERT INTO session_days_raw (account_id, user_id, session_id, day, active_ms, events, active, started, deleted, ver)
SELECT
    concat('acct-', toString(a)), concat('u', toString(k % (1 + a % 8))), concat('s-', toString(a), '-', toString(k)),
    today() - ((k * 7 + a) % 30), 60000 * (1 + k % 20), toUInt32(5 + k % 10), toUInt8(1), toUInt8(1), toUInt8(0), toUInt64(2)
FROM (SELECT number % ` + itoa(n) + ` AS a, intDiv(number, ` + itoa(n) + `) AS k FROM numbers(` + itoa(n*days) + `))
WHERE a % 10 != 4`,
		`INSERT INTO session_days_raw (account_id, user_id, session_id, day, active_ms, events, active, started, deleted, ver)
SELECT
    concat('acct-', toString(a)), concat('u', toString(k % (1 + a % 8))), concat('s-', toString(a), '-', toString(k)),
    today() - ((k * 7 + a) % 30), 0, toUInt32(1), toUInt8(0), toUInt8(1), toUInt8(0), toUInt64(1)
FROM (SELECT number % ` + itoa(n) + ` AS a, intDiv(number, ` + itoa(n) + `) AS k FROM numbers(` + itoa(n*max(days/10, 1)) + `))`,
		`INSERT INTO events_raw (event_id, account_id, user_id, name, ts, ts_ms, original_ts_ms, sent_at_ms, received_at, received_ms,
 properties, kafka_partition, kafka_offset, late, ver)
SELECT
    concat('e-', toString(a), '-', toString(k)), concat('acct-', toString(a)), concat('u', toString(k % 5)),
    multiIf(k < 2, '$account', k < 5, '$nps', k < 7, '$ticket', concat('feature_', toString(k % 12))) AS name,
    toDateTime(now() - 86400 * multiIf(k = 0, 45, k % 3 = 0, 40, k % 25) - a % 3600) AS t,
    toInt64(toUInt32(t)) * 1000, toInt64(toUInt32(t)) * 1000, toInt64(toUInt32(t)) * 1000, t, toInt64(toUInt32(t)) * 1000,
    multiIf(
        k = 0, concat('{"seats":', toString(10 + a % 20), ',"plan":"pro","mrr":', toString(100 + a % 500), ',"status":"active"}'),
        k = 1, concat('{"seats":', toString(if(a % 10 = 0, 2, 5 + a % 20)), ',"status":"', arrayElement(['active', 'past_due', 'trialing', 'active', 'canceled'], 1 + a % 5), '"}'),
        k < 5, concat('{"score":', toString((a + k) % 11), '}'),
        k < 7, '{"severity":"high"}',
        ''),
    toUInt16(a % 8), toInt64(a * 100 + k), toUInt8(0), toUInt64(1)
FROM (SELECT number % ` + itoa(n) + ` AS a, intDiv(number, ` + itoa(n) + `) AS k FROM numbers(` + itoa(n*events) + `))`,
	}
	for _, s := range stmts {
		if err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("generating the scorer's benchmark history: %w", err)
		}
	}
	// A long-running table has most of its rows in a few large parts that background merges
	// produced, and a few small new ones; freshly inserted data has several equal parts
	// instead, which makes FINAL slower than it will be in production. Merge them, and the
	// narrow tables the materialized views filled from events_raw, which the scorer reads.
	for _, table := range []string{"session_days_raw", "events_raw", "signal_events", "account_event_names"} {
		if err := conn.Exec(ctx, "OPTIMIZE TABLE "+table+" FINAL"); err != nil {
			return fmt.Errorf("merging %s: %w", table, err)
		}
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }
