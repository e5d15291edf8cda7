package demo

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// Feature is a product feature: the name of the product events that use it.
type Feature struct {
	Name string
	// Area groups features in the product; it is sent as properties.area.
	Area string
	// Weight is the feature's relative popularity: how often a user who adopted it uses it.
	Weight float64
	// Core features are the ones that deliver the product's value (properties.core is true);
	// users adopt them first, and time-to-value is the time to the first of them.
	Core bool
	// props appends the feature's own properties, each starting with a comma.
	props func(r *rand.Rand, b []byte) []byte
}

// Features is the product's feature catalogue, most popular first. dashboard.viewed is the
// landing page: most sessions start with it.
var Features = []Feature{
	{Name: "dashboard.viewed", Area: "analytics", Weight: 30, Core: true},
	{Name: "report.viewed", Area: "analytics", Weight: 14, Core: true},
	{Name: "search.performed", Area: "platform", Weight: 12, props: func(r *rand.Rand, b []byte) []byte {
		return strconv.AppendInt(append(b, `,"results":`...), int64(r.IntN(60)), 10)
	}},
	{Name: "invoice.created", Area: "billing", Weight: 10, Core: true, props: func(r *rand.Rand, b []byte) []byte {
		b = append(b, `,"amount":`...)
		b = strconv.AppendFloat(b, float64(50+r.IntN(500000))/100, 'f', 2, 64)
		return appendJSONField(b, "currency", pick(r, currencies))
	}},
	{Name: "filter.applied", Area: "platform", Weight: 9},
	{Name: "invoice.sent", Area: "billing", Weight: 8, Core: true},
	{Name: "customer.updated", Area: "crm", Weight: 6},
	{Name: "report.exported", Area: "analytics", Weight: 6, props: func(r *rand.Rand, b []byte) []byte {
		return appendJSONField(b, "format", pick(r, exportFormats))
	}},
	{Name: "customer.created", Area: "crm", Weight: 5},
	{Name: "report.created", Area: "analytics", Weight: 4, Core: true},
	{Name: "invoice.paid", Area: "billing", Weight: 4},
	{Name: "comment.added", Area: "collaboration", Weight: 4},
	{Name: "notification.clicked", Area: "platform", Weight: 4},
	{Name: "file.uploaded", Area: "collaboration", Weight: 3, props: func(r *rand.Rand, b []byte) []byte {
		return strconv.AppendInt(append(b, `,"size_kb":`...), int64(1+r.IntN(8000)), 10)
	}},
	{Name: "workflow.run", Area: "automation", Weight: 3},
	{Name: "report.shared", Area: "analytics", Weight: 2},
	{Name: "payment.reminder_sent", Area: "billing", Weight: 2},
	{Name: "workflow.created", Area: "automation", Weight: 1.2},
	{Name: "contact.imported", Area: "crm", Weight: 1, props: func(r *rand.Rand, b []byte) []byte {
		return strconv.AppendInt(append(b, `,"rows":`...), int64(10+r.IntN(5000)), 10)
	}},
	{Name: "settings.updated", Area: "admin", Weight: 1},
	{Name: "user.invited", Area: "admin", Weight: 0.6},
	{Name: "integration.connected", Area: "admin", Weight: 0.4, props: func(r *rand.Rand, b []byte) []byte {
		return appendJSONField(b, "provider", pick(r, integrations))
	}},
	{Name: "api_key.created", Area: "admin", Weight: 0.3},
}

var (
	currencies    = []string{"USD", "USD", "USD", "EUR", "EUR", "GBP", "AUD", "INR"}
	exportFormats = []string{"pdf", "pdf", "csv", "csv", "xlsx"}
	integrations  = []string{"slack", "salesforce", "hubspot", "quickbooks", "xero", "zapier"}
)

// Plans. A trial has no price; the others are billed per seat and month.
const (
	PlanTrial      = "trial"
	PlanStarter    = "starter"
	PlanPro        = "pro"
	PlanEnterprise = "enterprise"
)

// seatPrice is the monthly list price of one seat. Enterprise is billed yearly, with a
// volume discount above 100 seats.
var seatPrice = map[string]float64{PlanTrial: 0, PlanStarter: 15, PlanPro: 35, PlanEnterprise: 60}

// trialSeats is the number of seats a trial comes with.
const trialSeats = 10

// trialLength is how long a trial lasts before it converts or expires.
const trialLength = 14

// mrr is the monthly recurring revenue of a plan with seats.
func mrr(plan string, seats int) float64 {
	v := seatPrice[plan] * float64(seats)
	if plan == PlanEnterprise && seats > 100 {
		v *= 0.85
	}
	return float64(int64(v*100+0.5)) / 100
}

// company names for account ids: a name and a suffix make "acme-co", the account's index
// makes it unique.
var (
	companyNames = []string{
		"acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "tyrell",
		"cyberdyne", "soylent", "vandelay", "dunder", "piedpiper", "oscorp", "aperture", "massive",
		"gringotts", "nakatomi", "monarch", "blueth", "prestige", "sterling", "vehement", "krusty",
		"bluebook", "northwind", "contoso", "fabrikam", "tailspin", "litware", "proseware",
		"adatum", "fourth-coffee", "wingtip", "woodgrove", "lucerne", "margie", "alpine", "datum",
		"zenith", "orbit", "lumen", "quartz", "harbor", "summit", "beacon", "cobalt", "ember", "fjord",
	}
	companySuffixes = []string{"co", "inc", "labs", "group", "systems", "works", "io", "ltd", "hq", "partners"}
)

// zone is a time zone users work in. Fixed offsets keep the simulation independent of the
// machine's tz database; daylight saving time is ignored.
type zone struct {
	Name   string
	Offset time.Duration
	Weight float64
}

var zones = []zone{
	{"America/Los_Angeles", -8 * time.Hour, 15},
	{"America/New_York", -5 * time.Hour, 25},
	{"Europe/London", 0, 15},
	{"Europe/Berlin", 1 * time.Hour, 20},
	{"Asia/Kolkata", 5*time.Hour + 30*time.Minute, 8},
	{"Asia/Singapore", 8 * time.Hour, 7},
	{"Australia/Sydney", 10 * time.Hour, 10},
}

// maxZoneOffset bounds the offsets in zones; Stream.MinNext relies on it.
const maxZoneOffset = 14 * time.Hour

func pick(r *rand.Rand, s []string) string { return s[r.IntN(len(s))] }

// weighted returns an index of w chosen with probability proportional to its weight.
func weighted(r *rand.Rand, w []float64) int {
	var sum float64
	for _, x := range w {
		sum += x
	}
	x := r.Float64() * sum
	for i, v := range w {
		if x < v {
			return i
		}
		x -= v
	}
	return len(w) - 1
}
