// Package health is the pure core of the scorer: it turns what is known about one account
// (Inputs) into a customer-health score, a band and the components behind them (Score),
// decides when the band an account is in changes (Transition), and names the reasons for a
// change (Reasons). It does no I/O apart from LoadModel: the scorer (internal/scorer) reads
// ClickHouse, calls this package, writes account_health and emits health-change events.
//
// # Invariants
//
//   - Score, Transition and Reasons are deterministic functions of their arguments and of a
//     Model that passed Validate (LoadModel, ParseModel and DefaultModel return only such
//     models). A Model is never modified after loading, so one may be shared by goroutines;
//     reloading swaps in a new one.
//   - Score allocates nothing and takes well under a microsecond (BenchmarkScore), so
//     rescoring 100 000 accounts costs milliseconds of CPU next to the ClickHouse reads.
//   - Every component is on a 0–100 scale, except usage, which exceeds 100 only when the
//     account has more monthly active users than seats (and then at most 100×max_overuse).
//     So a score above 100, the power band, is reached only through licence over-use.
//   - A component without data is never counted as 0: it is left out and its weight is
//     spread over the present ones in proportion to their weights. Result.Coverage tells how
//     much of the model's weight had data.
//   - Result.Score is rounded to one decimal and its band is a function of that rounded
//     value, so the published score and band always agree.
//
// # The score
//
// With w_c the model weight of component c and s_c its 0–100 score,
//
//	score = Σ_{c present} w_c·s_c / Σ_{c present} w_c
//	coverage = Σ_{c present} w_c / Σ_c w_c
//
// The default model (deploy/health-model.json, DefaultModel) weighs usage 40, NPS 10,
// tickets 20 and billing 30.
//
// # Components
//
// usage (always present: no activity at all is data, and the worst kind) is a weighted mean
// of four sub-signals, each in 0–1, times a licence over-use multiplier:
//
//	active_days  = min(active_days_14d / active_days_target, 1)            (target 10 of 14 days)
//	utilisation  = min(mau / seats, 1)                (left out, like a missing component, when seats are unknown)
//	stickiness   = min((wau / mau) / stickiness_target, 1), 0 when mau = 0  (target 0.6; or dau/mau)
//	breadth      = min(features_used_30d / features_target, 1)              (target 10 features)
//	base         = 100 · Σ signal_weight·signal / Σ signal_weight           (weights 40/30/15/15)
//	usage        = base · min(mau / seats, max_overuse)  if seats are known and mau > seats
//	             = base                                   otherwise        (max_overuse 1.5)
//
// nps (present once the window holds at least min_responses answers; promoters answered
// 9–10, passives 7–8, detractors 0–6):
//
//	NPS = 100 · (promoters − detractors) / answers        (−100 … 100)
//	nps = (NPS + 100) / 2                                 (0 … 100; NPS 0 scores 50)
//
// tickets (tickets opened within tickets.window_days, default 30; present once the account
// has any ticket or any monthly active user, because zero tickets from an account nobody uses
// says nothing about its support experience, while zero tickets from one in use is the best
// possible value):
//
//	users   = max(mau, seats, 1)             (the larger of the bought and the used user base)
//	tickets = 100 · max(0, 1 − (tickets / users) / zero_score_per_user)   (default 0.5)
//
// So with 10 seats, 0 tickets score 100, 1 ticket 80 and 3 tickets 40: red on support.
//
// billing (present when the account has a status trait the model scores):
//
//	active 100, trialing 75, past_due 20, canceled 0
//
// # Worked example
//
// An account with 20 seats, mau 25, wau 18, 11 active days in the last 14, 8 features used,
// NPS answers 3 promoters, 1 passive, 1 detractor, 2 tickets, status active:
//
//	active_days = min(11/10, 1) = 1          utilisation = min(25/20, 1) = 1
//	stickiness  = min((18/25)/0.6, 1) = 1    breadth     = 8/10 = 0.8
//	base    = 100 · (40·1 + 30·1 + 15·1 + 15·0.8) / 100 = 97
//	usage   = 97 · min(25/20, 1.5) = 121.25            (published as 121.3)
//	nps     = (100·(3−1)/5 + 100) / 2 = 70
//	tickets = 100 · (1 − (2/25)/0.5) = 84
//	billing = 100
//	score   = (40·121.25 + 10·70 + 20·84 + 30·100) / 100 = 102.3     → power, coverage 1
//
// Without NPS answers the same account scores (40·121.25 + 20·84 + 30·100) / 90 = 105.9,
// coverage 0.9, and the effective weights are usage 0.444, tickets 0.222, billing 0.333.
//
// # Bands
//
// Scores are reals. A score is rounded to one decimal and then: red ≤ 40 < yellow ≤ 70 <
// green ≤ 100 < power. So 40 is red and 40.1 yellow, 70 yellow and 70.1 green, 100 green and
// 100.1 power, and the contract's integer edges hold: 40 red, 41 yellow, 70 yellow, 71 green,
// 100 green, 101 power. The bounds are the model's bands section.
//
// # Hysteresis and dwell
//
// Transition keeps scores that wobble around a bound from flapping the band (and flooding
// engagement.health.changes). To leave its band an account must pass the bound by more than
// hysteresis.margin (default 3 points): a yellow account becomes green above 73 and a green
// one yellow at 67 or below. With margin m, an account moving up takes Bands.Of(score − m),
// moving down Bands.Of(score + m), and keeps its band if that is no move. Optionally,
// hysteresis.min_dwell (default 0) holds an account in a band for at least that long.
//
// Example, margin 3, a yellow account scored once an hour: 69, 71, 69.5, 72, 68, 74, 68.5,
// 66. Bands.Of alone would change the band six times (at 71, 69.5, 72, 68, 74 and 68.5).
// Transition changes it twice: to green at 74 (above 73) and back to yellow at 66 (at or
// below 67); 71, 72 and 68.5 are within the margin and change nothing.
//
// # Reasons
//
// Reasons returns codes for the components that moved the score most in the direction it
// moved (each by at least reasons.min_impact points, default 1, or else only the biggest),
// biggest first, then contraction and model_changed when they apply:
//
//   - usage_dropped, usage_rose: the usage component fell or rose.
//   - license_overuse: usage rose above 100 because more users are active than seats were
//     bought; the usual reason for entering power, and an upsell lead. A rise from below 100
//     to above it is split: usage_rose for the part up to 100, license_overuse for the rest.
//   - nps_detractor: NPS pulled the score down and the window holds more detractors than
//     before; nps_dropped: NPS pulled it down otherwise (promoters aged out of the window).
//   - nps_promoter: NPS pushed the score up and there are more promoters than before;
//     nps_rose: NPS pushed it up otherwise (detractors aged out).
//   - tickets_increased, tickets_decreased: the tickets per user in the window rose or fell.
//     There is no "resolved": a $ticket event records an opened ticket, not its resolution.
//   - billing_past_due, billing_canceled: the status changed to past_due or canceled.
//   - billing_recovered: the status went from past_due or canceled back to active.
//   - trial_converted: the status went from trialing to active.
//   - billing_worsened, billing_improved: billing moved the score for another reason (the
//     status appeared or disappeared, or the model's status scores changed).
//   - contraction: the account's MRR dropped, its seats were reduced, or it moved to an
//     earlier plan of reasons.plan_order, compared with Inputs.Previous or, when nil, with the
//     previous Inputs. Given with any band change, because a CSM wants to know either way.
//   - model_changed: the two results come from different model versions, so part of the move
//     is the model's, not the account's.
package health
