package health

import (
	"math"
	"slices"
)

// Reason codes of a health-change event, stable and machine-readable. The package
// documentation says when each is given.
const (
	ReasonUsageDropped     = "usage_dropped"
	ReasonUsageRose        = "usage_rose"
	ReasonLicenseOveruse   = "license_overuse"
	ReasonNPSDetractor     = "nps_detractor"
	ReasonNPSDropped       = "nps_dropped"
	ReasonNPSPromoter      = "nps_promoter"
	ReasonNPSRose          = "nps_rose"
	ReasonTicketsIncreased = "tickets_increased"
	ReasonTicketsDecreased = "tickets_decreased"
	ReasonBillingPastDue   = "billing_past_due"
	ReasonBillingCanceled  = "billing_canceled"
	ReasonBillingRecovered = "billing_recovered"
	ReasonTrialConverted   = "trial_converted"
	ReasonBillingWorsened  = "billing_worsened"
	ReasonBillingImproved  = "billing_improved"
	ReasonContraction      = "contraction"
	ReasonModelChanged     = "model_changed"
)

// mover is one candidate reason: a code and how many points of the total score it moved.
type mover struct {
	code   string
	impact float64
}

// Reasons explains why the score moved from prev to cur: the codes of the components that
// moved it most in the direction it moved, biggest first, then contraction and model_changed
// when they apply. It never returns nil, so that JSON shows [] rather than null.
//
// prev should be the Result (and prevIn the Inputs) from when the account entered the band
// it is now leaving, so that a slow decline over weeks is explained as a whole rather than
// by the last small step. If the scorer keeps no previous Inputs it may pass a zero Inputs:
// the codes then rest on the component scores alone (see nps_detractor and contraction for
// what needs inputs). If prev has no present component (a new account) there is no movement
// to explain and the result is empty.
func Reasons(m *Model, prev, cur Result, prevIn, curIn Inputs) []string {
	out := []string{}
	if prev.Coverage == 0 && !anyPresent(prev.Components) {
		return out
	}

	var buf [NumComponents + 1]mover
	movers := buf[:0]
	for i := range NumComponents {
		imp := impact(prev, cur, i)
		if imp == 0 {
			continue
		}
		p, c := prev.Components[i], cur.Components[i]
		switch i {
		case ComponentUsage:
			if p.Present && c.Present && c.Score > 100 && c.Score > p.Score {
				// Split the rise into the part above 100, which only licence over-use can
				// produce, and the rest.
				over := c.Weight * (c.Score - max(p.Score, 100))
				movers = append(movers, mover{ReasonLicenseOveruse, over})
				imp -= over
				if math.Abs(imp) < 1e-9 {
					continue
				}
			}
			movers = append(movers, mover{pick(imp, ReasonUsageDropped, ReasonUsageRose), imp})
		case ComponentNPS:
			code := pick(imp, ReasonNPSDropped, ReasonNPSRose)
			if imp < 0 && curIn.NPS.Detractors > prevIn.NPS.Detractors {
				code = ReasonNPSDetractor
			} else if imp > 0 && curIn.NPS.Promoters > prevIn.NPS.Promoters {
				code = ReasonNPSPromoter
			}
			movers = append(movers, mover{code, imp})
		case ComponentTickets:
			movers = append(movers, mover{pick(imp, ReasonTicketsIncreased, ReasonTicketsDecreased), imp})
		case ComponentBilling:
			movers = append(movers, mover{billingReason(prevIn.Status, curIn.Status, imp), imp})
		}
	}

	// Keep the movers that pushed the score the way it went: a small NPS gain is no reason
	// for a drop to red. Of those, keep the ones that moved it at least MinImpact points, or
	// the biggest one if none did.
	delta := cur.Score - prev.Score
	var keptBuf [NumComponents + 1]mover
	kept := keptBuf[:0]
	biggest := -1
	for _, mv := range movers {
		if delta != 0 && (mv.impact > 0) != (delta > 0) {
			continue
		}
		if biggest < 0 || math.Abs(mv.impact) > math.Abs(kept[biggest].impact) {
			biggest = len(kept)
		}
		kept = append(kept, mv)
	}
	var chosenBuf [NumComponents + 1]mover
	chosen := chosenBuf[:0]
	for _, mv := range kept {
		if math.Abs(mv.impact) >= m.Reasons.MinImpact {
			chosen = append(chosen, mv)
		}
	}
	if len(chosen) == 0 && biggest >= 0 {
		chosen = append(chosen, kept[biggest])
	}
	// Stable, so equal impacts keep component order and the output is deterministic.
	slices.SortStableFunc(chosen, func(a, b mover) int {
		x, y := math.Abs(a.impact), math.Abs(b.impact)
		switch {
		case x > y:
			return -1
		case x < y:
			return 1
		}
		return 0
	})
	for _, mv := range chosen {
		out = append(out, mv.code)
	}

	if contracted(m, prevIn, curIn) {
		out = append(out, ReasonContraction)
	}
	if prev.ModelVersion != "" && cur.ModelVersion != "" && prev.ModelVersion != cur.ModelVersion {
		out = append(out, ReasonModelChanged)
	}
	return out
}

// impact estimates how many points of the total score component i moved between prev and
// cur. A component present in both moved it by its weight times its change. One that gained
// data moved the score by its weight times its distance from the old mean; one that lost data
// by the inverse of that (the mean without it minus the mean with it).
func impact(prev, cur Result, i ComponentID) float64 {
	p, c := prev.Components[i], cur.Components[i]
	switch {
	case p.Present && c.Present:
		return c.Weight * (c.Score - p.Score)
	case c.Present:
		return c.Weight * (c.Score - prev.Score)
	case p.Present:
		if p.Weight >= 1 {
			return cur.Score - prev.Score
		}
		return p.Weight * (prev.Score - p.Score) / (1 - p.Weight)
	}
	return 0
}

func pick(impact float64, down, up string) string {
	if impact < 0 {
		return down
	}
	return up
}

// billingReason names a status change when there is one worth naming, else the direction.
func billingReason(prev, cur *string, impact float64) string {
	var ps, cs string
	if prev != nil {
		ps = *prev
	}
	if cur != nil {
		cs = *cur
	}
	if ps != cs {
		switch {
		case cs == StatusPastDue:
			return ReasonBillingPastDue
		case cs == StatusCanceled:
			return ReasonBillingCanceled
		case cs == StatusActive && ps == StatusTrialing:
			return ReasonTrialConverted
		case cs == StatusActive && (ps == StatusPastDue || ps == StatusCanceled):
			return ReasonBillingRecovered
		}
	}
	return pick(impact, ReasonBillingWorsened, ReasonBillingImproved)
}

// contracted reports an MRR drop, a seat reduction or a move to an earlier plan of
// m.Reasons.PlanOrder, against curIn.Previous or, when that is nil, prevIn's terms. A value
// unknown on either side is no evidence of contraction.
func contracted(m *Model, prevIn, curIn Inputs) bool {
	base := Terms{Seats: prevIn.Seats, Plan: prevIn.Plan, MRR: prevIn.MRR}
	if curIn.Previous != nil {
		base = *curIn.Previous
	}
	if base.MRR != nil && curIn.MRR != nil && *curIn.MRR < *base.MRR {
		return true
	}
	if base.Seats != nil && curIn.Seats != nil && *base.Seats > 0 && *curIn.Seats > 0 && *curIn.Seats < *base.Seats {
		return true
	}
	if base.Plan == "" || curIn.Plan == "" {
		return false
	}
	from, to := slices.Index(m.Reasons.PlanOrder, base.Plan), slices.Index(m.Reasons.PlanOrder, curIn.Plan)
	return from >= 0 && to >= 0 && to < from
}

func anyPresent(cs Components) bool {
	for _, c := range cs {
		if c.Present {
			return true
		}
	}
	return false
}
