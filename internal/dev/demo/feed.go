package demo

import "time"

// Feed yields a simulation's events in global timestamp order, across every account, as a
// user's SDK would send them in real time. It generates a day at a time and keeps the events
// it has generated but not yet passed on, about a day's worth, in memory: fine for a demo's
// population, too much for tens of thousands of accounts, where Generate's day-by-day order
// streams in constant memory instead.
type Feed struct {
	s    *Stream
	heap []*queued
	ord  uint64
}

type queued struct {
	ev  Event
	ts  int64
	ord uint64 // generation order: breaks ties so that equal timestamps keep it
}

// NewFeed returns a Feed over s, which must not be used elsewhere.
func NewFeed(s *Stream) *Feed { return &Feed{s: s} }

// Feed returns a Feed over every account, from the first day.
func (g *Generator) Feed() *Feed { return NewFeed(g.Stream(0, 1)) }

// Pending returns how many generated events wait to be passed on.
func (f *Feed) Pending() int { return len(f.heap) }

// Until passes to fn, in timestamp order, every event with a timestamp before t that it has
// not passed yet. The *Event belongs to fn: it may keep or modify it.
func (f *Feed) Until(t time.Time, fn func(*Event) error) error {
	tm := t.UnixMilli()
	for {
		// Everything not generated yet is at or after minNext, so what is queued before it
		// is final.
		next := f.s.minNext()
		if err := f.popBefore(min(tm, next), fn); err != nil {
			return err
		}
		if next >= tm {
			return nil
		}
		if err := f.s.Step(f.push); err != nil {
			return err
		}
	}
}

func (f *Feed) push(e *Event) error {
	f.ord++
	q := &queued{ev: e.Clone(), ts: e.Timestamp.UnixMilli(), ord: f.ord}
	f.heap = append(f.heap, q)
	f.up(len(f.heap) - 1)
	return nil
}

func (f *Feed) popBefore(t int64, fn func(*Event) error) error {
	for len(f.heap) > 0 && f.heap[0].ts < t {
		q := f.heap[0]
		last := len(f.heap) - 1
		f.heap[0] = f.heap[last]
		f.heap[last] = nil
		f.heap = f.heap[:last]
		if last > 0 {
			f.down(0)
		}
		if err := fn(&q.ev); err != nil {
			return err
		}
	}
	return nil
}

func (f *Feed) less(i, j int) bool {
	a, b := f.heap[i], f.heap[j]
	return a.ts < b.ts || a.ts == b.ts && a.ord < b.ord
}

func (f *Feed) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !f.less(i, p) {
			return
		}
		f.heap[i], f.heap[p] = f.heap[p], f.heap[i]
		i = p
	}
}

func (f *Feed) down(i int) {
	n := len(f.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && f.less(r, l) {
			m = r
		}
		if !f.less(m, i) {
			return
		}
		f.heap[i], f.heap[m] = f.heap[m], f.heap[i]
		i = m
	}
}
