package kpi_test

import (
	"context"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/engage-oss/engage/internal/dev/testenv"
	"github.com/engage-oss/engage/pkg/kpi"
)

// The fixture (testdata/fixture.ndjson) is ten accounts from June to September 2026, sent
// through the gateway (one POST /v1/events per event), Kafka and the stream worker in file
// order. Every expected value below is worked
// out by hand from it; the comments show the arithmetic.
//
// Account history ($account; a customer is active or past_due):
//
//	tyrell     Jun 1 active enterprise 3000 · Jul 10 canceled · Aug 15 active 2500 (win-back)
//	cyberdyne  Jun 5 active pro 800 · Aug 10 past_due (still a customer) · Sep 8 active
//	acme       Jun 10 09:00 active pro + 15:00 seats 10 mrr 1000 (one day, one change)
//	           · Aug 12 enterprise 20 seats 2000 (upgrade) · Sep 5 the same again (no change)
//	globex     Jun 15 active pro 500 · Jul 20 starter 300 (downgrade) · Sep 10 canceled, seats null
//	initech    Jun 20 active starter 200 · Jul 25 canceled
//	umbrella   Jul 1 trialing · Jul 15 active pro 500 (trial converted)
//	hooli      Jul 5 trialing · Aug 4 canceled (trial not converted)
//	stark      Aug 1 trialing · Aug 20 active starter 250 · Sep 15 seats 4 mrr 400, and sent
//	           last, a late event dated Aug 28: mrr 300, which rewrites August and September
//	wayne      Aug 3 active starter 100 · Aug 18 canceled (created and canceled in one month)
//	soylent    Sep 10 trialing (still in trial at the end of September)
//
// Duplicates: u8-nps-aug and u6-ref are each sent twice and count once.
//
// Users (core features here: report.viewed, report.created, invoice.created, invoice.sent;
// the test turns the default dashboard.viewed off):
//
//	acme/u1      $signup Jul 1 09:00; report.created Jul 1 11:00; active Jul 2, 8, 31
//	acme/u2      $signup Jul 1 10:00; invoice.created Jul 3 10:00; active Jul 2, 31 ($heartbeat)
//	acme/u4      no $signup: first event report.viewed Aug 3 14:00; active Aug 10, Sep 2
//	umbrella/u5  $signup Jul 1 12:00; report.created Jul 6 12:00; active Jul 8
//	hooli/u7     $signup Jul 5 10:00; only settings.updated (Jul 5, Jul 6)
//	stark/u6     $signup Aug 1 08:00; invoice.created Aug 2 08:00; invoice.sent Aug 31
//	globex/u3    no $signup, no product events: first event its $nps, Jul 10 10:00
//	cyberdyne/u8 no $signup, no product events: first event its $nps, Aug 5 10:00
func TestFixtureKPIs(t *testing.T) {
	for _, mode := range testenv.Modes {
		t.Run(mode, func(t *testing.T) { fixtureKPIs(t, mode) })
	}
}

func fixtureKPIs(t *testing.T, mode string) {
	ctx := context.Background()
	conn := pipelineIn(t, "testdata/fixture.ndjson", mode)
	if err := kpi.SetCoreFeature(ctx, conn, "dashboard.viewed", false); err != nil {
		t.Fatal(err)
	}
	// June to October: October has no events and shows the state carried forward. Later
	// months depend on today's date.
	months := kpi.Filter{From: month("2026-06-01"), To: month("2026-10-31")}

	tests := []struct {
		name  string
		query func(driver.Conn) ([]string, error)
		want  []string
	}{
		{
			name: "account_state_changes",
			query: func(c driver.Conn) ([]string, error) {
				return lines(kpi.AccountStateChanges(ctx, c, kpi.Filter{}))
			},
			// account day valid_to status plan seats mrr paying prev_status
			want: []string{
				// Two events on Jun 10 make one state; the repeated Sep 5 event no row.
				`acme 2026-06-10 2026-08-12 active pro 10 1000 true ""`,
				`acme 2026-08-12 NULL active enterprise 20 2000 true active`,
				`cyberdyne 2026-06-05 2026-08-10 active pro 8 800 true ""`,
				`cyberdyne 2026-08-10 2026-09-08 past_due pro 8 800 true active`,
				`cyberdyne 2026-09-08 NULL active pro 8 800 true past_due`,
				`globex 2026-06-15 2026-07-20 active pro 5 500 true ""`,
				`globex 2026-07-20 2026-09-10 active starter 3 300 true active`,
				// "seats": null is not a change: seats stay 3; canceled keeps its last mrr
				// trait but is not paying.
				`globex 2026-09-10 NULL canceled starter 3 300 false active`,
				`hooli 2026-07-05 2026-08-04 trialing trial 3 NULL false ""`,
				`hooli 2026-08-04 NULL canceled trial 3 NULL false trialing`,
				`initech 2026-06-20 2026-07-25 active starter 2 200 true ""`,
				`initech 2026-07-25 NULL canceled starter 2 200 false active`,
				`soylent 2026-09-10 NULL trialing trial 4 NULL false ""`,
				`stark 2026-08-01 2026-08-20 trialing trial 2 0 false ""`,
				`stark 2026-08-20 2026-08-28 active starter 2 250 true trialing`,
				// The late event, sent after Sep 15, lands in its place in history.
				`stark 2026-08-28 2026-09-15 active starter 2 300 true active`,
				`stark 2026-09-15 NULL active starter 4 400 true active`,
				`tyrell 2026-06-01 2026-07-10 active enterprise 50 3000 true ""`,
				`tyrell 2026-07-10 2026-08-15 canceled enterprise 50 3000 false active`,
				`tyrell 2026-08-15 NULL active enterprise 50 2500 true canceled`,
				`umbrella 2026-07-01 2026-07-15 trialing trial 5 0 false ""`,
				`umbrella 2026-07-15 NULL active pro 5 500 true trialing`,
				`wayne 2026-08-03 2026-08-18 active starter 1 100 true ""`,
				`wayne 2026-08-18 NULL canceled starter 1 100 false active`,
			},
		},
		{
			name: "account_state_daily",
			query: func(c driver.Conn) ([]string, error) {
				return lines(kpi.AccountStateDaily(ctx, c, kpi.Filter{AccountID: "stark", From: month("2026-08-27"), To: month("2026-08-29")}))
			},
			want: []string{
				`stark 2026-08-27 active starter 2 250 true false`,
				`stark 2026-08-28 active starter 2 300 true true`,
				`stark 2026-08-29 active starter 2 300 true false`,
			},
		},
		{
			name: "account_state_monthly",
			query: func(c driver.Conn) ([]string, error) {
				rows, err := kpi.AccountMonths(ctx, c, months)
				var picked []kpi.AccountMonth
				for _, r := range rows {
					switch r.AccountID {
					case "globex", "stark", "tyrell", "wayne":
						picked = append(picked, r)
					}
				}
				return lines(picked, err)
			},
			// account month | status plan paying mrr at the start | status plan seats paying mrr
			// at the end | movement new expansion contraction churned | lost new new_and_lost
			// | trials started ended converted
			want: []string{
				`globex 2026-06-01 "" "" false 0 active pro 5 true 500 new 500 0 0 0 false true false 0 0 0`,
				// 500 -> 300: contraction 200.
				`globex 2026-07-01 active pro true 500 active starter 3 true 300 contraction 0 0 200 0 false false false 0 0 0`,
				`globex 2026-08-01 active starter true 300 active starter 3 true 300 flat 0 0 0 0 false false false 0 0 0`,
				`globex 2026-09-01 active starter true 300 canceled starter 3 false 0 churned 0 0 0 300 true false false 0 0 0`,
				`globex 2026-10-01 canceled starter false 0 canceled starter 3 false 0 none 0 0 0 0 false false false 0 0 0`,
				// Trial to active: new MRR 300 (the late event's, not 250).
				`stark 2026-08-01 "" "" false 0 active starter 2 true 300 new 300 0 0 0 false true false 1 1 1`,
				`stark 2026-09-01 active starter true 300 active starter 4 true 400 expansion 0 100 0 0 false false false 0 0 0`,
				`stark 2026-10-01 active starter true 400 active starter 4 true 400 flat 0 0 0 0 false false false 0 0 0`,
				`tyrell 2026-06-01 "" "" false 0 active enterprise 50 true 3000 new 3000 0 0 0 false true false 0 0 0`,
				`tyrell 2026-07-01 active enterprise true 3000 canceled enterprise 50 false 0 churned 0 0 0 3000 true false false 0 0 0`,
				// Win-back: not a customer at the start, one at the end.
				`tyrell 2026-08-01 canceled enterprise false 0 active enterprise 50 true 2500 new 2500 0 0 0 false true false 0 0 0`,
				`tyrell 2026-09-01 active enterprise true 2500 active enterprise 50 true 2500 flat 0 0 0 0 false false false 0 0 0`,
				`tyrell 2026-10-01 active enterprise true 2500 active enterprise 50 true 2500 flat 0 0 0 0 false false false 0 0 0`,
				// Created and canceled in August: neither new nor lost, but new_and_lost.
				`wayne 2026-08-01 "" "" false 0 canceled starter 1 false 0 none 0 0 0 0 false false true 0 0 0`,
				`wayne 2026-09-01 canceled starter false 0 canceled starter 1 false 0 none 0 0 0 0 false false false 0 0 0`,
				`wayne 2026-10-01 canceled starter false 0 canceled starter 1 false 0 none 0 0 0 0 false false false 0 0 0`,
			},
		},
		{
			name:  "churn_monthly",
			query: func(c driver.Conn) ([]string, error) { return lines(kpi.ChurnMonthly(ctx, c, months)) },
			// month start new lost new_and_lost end churn_rate mrr_start mrr_churned revenue_churn_rate
			want: []string{
				// No customers at the start of June: both rates NULL, not a division by zero.
				`2026-06-01 0 5 0 0 5 NULL 0 0 NULL`,
				// Start: acme 1000, globex 500, initech 200, cyberdyne 800, tyrell 3000 = 5, 5500.
				// Lost: initech, tyrell: 2/5 = 40 %; churned MRR 200+3000 = 3200, 3200/5500 = 58.1818 %.
				// New: umbrella. End: acme, globex, cyberdyne, umbrella = 4.
				`2026-07-01 5 1 2 0 4 40 5500 3200 58.1818`,
				// Start: acme 1000, globex 300, cyberdyne 800, umbrella 500 = 4, 2600. Nobody lost.
				// New: stark, tyrell. wayne came and went. End 6.
				`2026-08-01 4 2 0 1 6 0 2600 0 0`,
				// Start 6, 6400 (acme 2000 + globex 300 + cyberdyne 800 + umbrella 500 + stark 300
				// + tyrell 2500). Lost globex: 1/6 = 16.6667 %, 300/6400 = 4.6875 %.
				`2026-09-01 6 0 1 0 5 16.6667 6400 300 4.6875`,
				`2026-10-01 5 0 0 0 5 0 6200 0 0`,
			},
		},
		{
			name:  "mrr_movements_monthly",
			query: func(c driver.Conn) ([]string, error) { return lines(kpi.MRRMovementsMonthly(ctx, c, months)) },
			// month start new expansion contraction churned end net negative_churn
			want: []string{
				`2026-06-01 0 5500 0 0 0 5500 5500 false`,
				// 5500 + 500 (umbrella) - 200 (globex) - 3200 = 2600.
				`2026-07-01 5500 500 0 200 3200 2600 -2900 false`,
				// 2600 + 2800 (stark 300, tyrell 2500) + 1000 (acme) = 6400; 1000 > 0 + 0.
				`2026-08-01 2600 2800 1000 0 0 6400 3800 true`,
				// 6400 + 100 (stark 300 -> 400) - 300 (globex) = 6200; 100 < 300.
				`2026-09-01 6400 0 100 0 300 6200 -200 false`,
				`2026-10-01 6200 0 0 0 0 6200 0 false`,
			},
		},
		{
			name:  "nrr_monthly",
			query: func(c driver.Conn) ([]string, error) { return lines(kpi.NRRMonthly(ctx, c, months)) },
			// month customers_start start expansion contraction churned retained nrr
			want: []string{
				`2026-06-01 0 0 0 0 0 0 NULL`,
				// (5500 + 0 - 200 - 3200) / 5500 = 38.1818 %.
				`2026-07-01 5 5500 0 200 3200 2100 38.1818`,
				// (2600 + 1000) / 2600 = 138.4615 %: new MRR (stark, tyrell) is left out.
				`2026-08-01 4 2600 1000 0 0 3600 138.4615`,
				// (6400 + 100 - 300) / 6400 = 96.875 %.
				`2026-09-01 6 6400 100 0 300 6200 96.875`,
				`2026-10-01 5 6200 0 0 0 6200 100`,
			},
		},
		{
			name:  "ltv",
			query: func(c driver.Conn) ([]string, error) { return lines(kpi.LTV(ctx, c, months)) },
			// month window customers mrr arpa window_start window_lost churn ltv
			// avg_monthly_revenue avg_lifetime clv — window 3 months (the default)
			want: []string{
				// Only June in the window, nobody lost: churn NULL, lifetime unbounded.
				`2026-06-01 3 5 5500 1100 0 0 NULL NULL 1100 NULL NULL`,
				// Window Jun+Jul: lost 0+2 of 0+5 = 40 %. ARPA 2600/4 = 650; LTV 650/0.4 = 1625.
				// Revenue per customer-month (5500+2600)/(5+4) = 900; lifetime 5/2 = 2.5; CLV 2250.
				`2026-07-01 3 4 2600 650 5 2 40 1625 900 2.5 2250`,
				// Jun+Jul+Aug: 2 of 9 = 22.2222 %. ARPA 6400/6 = 1066.6667; LTV x 4.5 = 4800.
				// (5500+2600+6400)/(5+4+6) = 966.6667 x 4.5 = 4350.
				`2026-08-01 3 6 6400 1066.6667 9 2 22.2222 4800 966.6667 4.5 4350`,
				// Jul+Aug+Sep: 3 of 15 = 20 %. ARPA 6200/5 = 1240; LTV 1240 x 5 = 6200.
				// (2600+6400+6200)/(4+6+5) = 1013.3333 x 5 = 5066.6667.
				`2026-09-01 3 5 6200 1240 15 3 20 6200 1013.3333 5 5066.6667`,
				// Aug+Sep+Oct: 1 of 15 = 6.6667 %. 1240 x 15 = 18600; (6400+6200+6200)/16 = 1175 x 15.
				`2026-10-01 3 5 6200 1240 15 1 6.6667 18600 1175 15 17625`,
			},
		},
		{
			name:  "trial_conversion_monthly",
			query: func(c driver.Conn) ([]string, error) { return lines(kpi.TrialConversionMonthly(ctx, c, months)) },
			// month started ended converted rate
			want: []string{
				`2026-06-01 0 0 0 NULL`,
				// Started umbrella, hooli; ended umbrella -> active: 1/1.
				`2026-07-01 2 1 1 100`,
				// Started stark; ended hooli (canceled) and stark (active): 1/2.
				`2026-08-01 1 2 1 50`,
				// soylent is still trialing: no trial ended, NULL.
				`2026-09-01 1 0 0 NULL`,
				`2026-10-01 0 0 0 NULL`,
			},
		},
		{
			name:  "nps_monthly",
			query: func(c driver.Conn) ([]string, error) { return lines(kpi.NPSMonthly(ctx, c, months)) },
			// month responses promoters passives detractors nps
			want: []string{
				// u1 answered 10 then 8: the latest (8, passive) counts. u2 9, u5 10 promoters;
				// u3 3 detractor. (2 - 1) / 4 = 25.
				`2026-07-01 4 2 1 1 25`,
				// u1 9, u6 7, u8 6 (sent twice, counted once): (1 - 1) / 3 = 0.
				`2026-08-01 3 1 1 1 0`,
				`2026-09-01 1 0 0 1 -100`,
			},
		},
		{
			name:  "nps_account_monthly",
			query: func(c driver.Conn) ([]string, error) { return lines(kpi.NPSAccountMonthly(ctx, c, months)) },
			want: []string{
				// acme: u1 8 (passive), u2 9: (1 - 0) / 2 = 50; plan at the end of July.
				`2026-07-01 acme pro 2 1 1 0 50`,
				`2026-07-01 globex starter 1 0 0 1 -100`,
				`2026-07-01 umbrella pro 1 1 0 0 100`,
				`2026-08-01 acme enterprise 1 1 0 0 100`,
				`2026-08-01 cyberdyne pro 1 0 0 1 -100`,
				`2026-08-01 stark starter 1 0 1 0 0`,
				`2026-09-01 umbrella pro 1 0 0 1 -100`,
			},
		},
		{
			name:  "nps_plan_monthly",
			query: func(c driver.Conn) ([]string, error) { return lines(kpi.NPSPlanMonthly(ctx, c, months)) },
			// month plan accounts responses promoters passives detractors nps
			want: []string{
				// pro in July: acme (8, 9) and umbrella (10): (2 - 0) / 3 = 66.6667.
				`2026-07-01 pro 2 3 2 1 0 66.6667`,
				`2026-07-01 starter 1 1 0 0 1 -100`,
				`2026-08-01 enterprise 1 1 1 0 0 100`,
				`2026-08-01 pro 1 1 0 0 1 -100`,
				`2026-08-01 starter 1 1 0 1 0 0`,
				`2026-09-01 pro 1 1 0 0 1 -100`,
			},
		},
		{
			name:  "csat_monthly",
			query: func(c driver.Conn) ([]string, error) { return lines(kpi.CSATMonthly(ctx, c, months)) },
			want: []string{
				// u1 5, u2 4, u3 2: 2 of 3 satisfied.
				`2026-07-01 3 2 66.6667`,
				// u1 3 and 5 (both answers count), u6 4, u8 1: 2 of 4.
				`2026-08-01 4 2 50`,
			},
		},
		{
			name:  "csat_account_monthly",
			query: func(c driver.Conn) ([]string, error) { return lines(kpi.CSATAccountMonthly(ctx, c, months)) },
			want: []string{
				`2026-07-01 acme 2 2 100`,
				`2026-07-01 globex 1 0 0`,
				`2026-08-01 acme 2 1 50`,
				`2026-08-01 cyberdyne 1 0 0`,
				`2026-08-01 stark 1 1 100`,
			},
		},
		{
			name:  "renewal_monthly",
			query: func(c driver.Conn) ([]string, error) { return lines(kpi.RenewalMonthly(ctx, c, months)) },
			// month up renewed not_renewed rate
			want: []string{
				`2026-07-01 2 2 0 100`,
				// cyberdyne: false on Aug 10, true on Aug 25: the latest wins. umbrella false.
				`2026-08-01 2 1 1 50`,
				`2026-09-01 1 0 1 0`,
			},
		},
		{
			name:  "referrals_monthly",
			query: func(c driver.Conn) ([]string, error) { return lines(kpi.ReferralsMonthly(ctx, c, months)) },
			want: []string{
				// u2 twice, u1 once.
				`acme 2026-07-01 3 2`,
				// u6's referral was sent twice.
				`stark 2026-08-01 1 1`,
				`umbrella 2026-08-01 1 1`,
				`acme 2026-09-01 1 1`,
			},
		},
		{
			name:  "user_signups",
			query: func(c driver.Conn) ([]string, error) { return lines(kpi.UserSignups(ctx, c, kpi.Filter{})) },
			want: []string{
				`acme u1 2026-07-01T09:00:00 signup 2026-07-01T09:00:00`,
				`acme u2 2026-07-01T10:00:00 signup 2026-07-01T10:00:00`,
				`acme u4 2026-08-03T14:00:00 first_event 2026-08-03T14:00:00`,
				`cyberdyne u8 2026-08-05T10:00:00 first_event 2026-08-05T10:00:00`,
				`globex u3 2026-07-10T10:00:00 first_event 2026-07-10T10:00:00`,
				`hooli u7 2026-07-05T10:00:00 signup 2026-07-05T10:00:00`,
				`stark u6 2026-08-01T08:00:00 signup 2026-08-01T08:00:00`,
				`umbrella u5 2026-07-01T12:00:00 signup 2026-07-01T12:00:00`,
			},
		},
		{
			name: "adoption",
			query: func(c driver.Conn) ([]string, error) {
				rows, err := kpi.Adoption(ctx, c, kpi.Filter{AccountID: "acme", From: month("2026-07-01"), To: month("2026-09-01")})
				return lines(rows, err)
			},
			// account feature month signed_up adopters rate
			want: []string{
				// July: u1 and u2 signed up. u1 used report.created, report.viewed and
				// invoice.sent, u2 invoice.created; both used some core feature (*).
				`acme * 2026-07-01 2 2 100`,
				`acme invoice.created 2026-07-01 2 1 50`,
				`acme invoice.sent 2026-07-01 2 1 50`,
				`acme report.created 2026-07-01 2 1 50`,
				`acme report.viewed 2026-07-01 2 1 50`,
				// August: u4 joins (3). u1 report.created, u4 report.viewed; dashboard.viewed
				// (u4, Aug 10) is not core any more.
				`acme * 2026-08-01 3 2 66.6667`,
				`acme invoice.created 2026-08-01 3 0 0`,
				`acme invoice.sent 2026-08-01 3 0 0`,
				`acme report.created 2026-08-01 3 1 33.3333`,
				`acme report.viewed 2026-08-01 3 1 33.3333`,
				`acme * 2026-09-01 3 1 33.3333`,
				`acme invoice.created 2026-09-01 3 0 0`,
				`acme invoice.sent 2026-09-01 3 0 0`,
				`acme report.created 2026-09-01 3 0 0`,
				`acme report.viewed 2026-09-01 3 1 33.3333`,
			},
		},
		{
			name:  "time_to_value",
			query: func(c driver.Conn) ([]string, error) { return lines(kpi.TimeToValue(ctx, c, kpi.Filter{})) },
			// account user signed_up source cohort plan first_value feature seconds
			want: []string{
				// 09:00 -> 11:00 = 7200 s; acme was on pro on Jul 1.
				`acme u1 2026-07-01T09:00:00 signup 2026-07-01 pro 2026-07-01T11:00:00 report.created 7200`,
				// Jul 1 10:00 -> Jul 3 10:00 = 172800 s (Jul 2's dashboard.viewed is not core).
				`acme u2 2026-07-01T10:00:00 signup 2026-07-01 pro 2026-07-03T10:00:00 invoice.created 172800`,
				// The first event is the core use: 0.
				`acme u4 2026-08-03T14:00:00 first_event 2026-08-01 pro 2026-08-03T14:00:00 report.viewed 0`,
				`cyberdyne u8 2026-08-05T10:00:00 first_event 2026-08-01 pro NULL "" NULL`,
				// globex was still on pro on Jul 10 (starter from Jul 20).
				`globex u3 2026-07-10T10:00:00 first_event 2026-07-01 pro NULL "" NULL`,
				`hooli u7 2026-07-05T10:00:00 signup 2026-07-01 trial NULL "" NULL`,
				`stark u6 2026-08-01T08:00:00 signup 2026-08-01 trial 2026-08-02T08:00:00 invoice.created 86400`,
				// 5 days = 432000 s.
				`umbrella u5 2026-07-01T12:00:00 signup 2026-07-01 trial 2026-07-06T12:00:00 report.created 432000`,
			},
		},
		{
			name:  "time_to_value_summary",
			query: func(c driver.Conn) ([]string, error) { return lines(kpi.TimeToValueSummary(ctx, c, kpi.Filter{})) },
			// plan cohort users reached median_seconds median_days
			want: []string{
				// pro, July: u1, u2, u3; reached 7200 and 172800: median (7200 + 172800) / 2
				// = 90000 s = 1.0417 days.
				`pro 2026-07-01 3 2 90000 1.0417`,
				`trial 2026-07-01 2 1 432000 5`,
				`pro 2026-08-01 2 1 0 0`,
				`trial 2026-08-01 1 1 86400 1`,
			},
		},
		{
			name:  "retention_cohorts",
			query: func(c driver.Conn) ([]string, error) { return lines(kpi.RetentionCohorts(ctx, c, kpi.Filter{})) },
			// week users | eligible retained rate for day 1, 7, 30
			want: []string{
				// Week of Mon Jun 29: u1, u2, u5 (Jul 1), u7 (Jul 5).
				// Day 1: u1 Jul 2, u2 Jul 2, u7 Jul 6 active; u5 not: 3/4.
				// Day 7: u1 Jul 8, u5 Jul 8; u2's Jul 8 had only a $referral on Jul 7: 2/4.
				// Day 30: u1 Jul 31, u2 Jul 31 ($heartbeat counts): 2/4.
				`2026-06-29 4 4 3 75 4 2 50 4 2 50`,
				// u3 never used the product.
				`2026-07-06 1 1 0 0 1 0 0 1 0 0`,
				// u6 (Sat Aug 1): Aug 2 yes, Aug 8 no, Aug 31 yes.
				`2026-07-27 1 1 1 100 1 0 0 1 1 100`,
				// u4 (Aug 3): Aug 4 no, Aug 10 yes, Sep 2 yes; u8 (Aug 5) never.
				`2026-08-03 2 2 0 0 2 1 50 2 1 50`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.query(conn)
			checkLines(t, got, err, tt.want)
		})
	}

	// The LTV churn window is configuration: with one month, September's churn is its own,
	// 1 of 6 = 16.6667 %, so LTV = 1240 / 0.166667 = 7440 and CLV = (6200 / 5) x 6 = 7440.
	t.Run("ltv window setting", func(t *testing.T) {
		if err := kpi.SetSetting(ctx, conn, kpi.SettingLTVChurnWindowMonths, 1); err != nil {
			t.Fatal(err)
		}
		got, err := lines(kpi.LTV(ctx, conn, kpi.Filter{From: month("2026-09-01"), To: month("2026-09-01")}))
		checkLines(t, got, err, []string{`2026-09-01 1 5 6200 1240 6 1 16.6667 7440 1240 6 7440`})
	})
}
