package demo

import (
	"fmt"
	"testing"
	"time"
)

func TestScratch(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Start = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range g.Accounts() {
		tr, _ := a.TraitsOn(cfg.Days - 1)
		fmt.Printf("%-28s %-8s %-15s %-10s users=%3d seats=%3d plan=%-10s status=%-9s mrr=%8.2f changes=%d\n", a.ID, a.Profile, a.Story, a.Zone, len(a.Users), tr.Seats, tr.Plan, tr.Status, tr.MRR, len(a.Changes))
	}
	counts := map[string]int{}
	perDay := map[string]int{}
	n := 0
	start := time.Now()
	var first *Event
	err = g.Generate(cfg.Start.AddDate(0, 0, cfg.Days), func(e *Event) error {
		n++
		counts[e.Name]++
		perDay[e.Timestamp.Format("2006-01-02")]++
		if first == nil && e.Name == "invoice.created" {
			c := e.Clone()
			first = &c
			fmt.Println(string(e.AppendJSON(nil)))
		}
		return nil
	})
	fmt.Println(n, time.Since(start), g.Users())
	fmt.Println(counts)
	fmt.Println(perDay)
}
