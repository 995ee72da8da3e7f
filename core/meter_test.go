package core

import (
	"math"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func near(a, b, tol float64) bool        { return math.Abs(a-b) <= tol }

func TestMeterEWMA(t *testing.T) {
	c := &fakeClock{t: time.Unix(0, 0)}
	m := newMeterAt(c.now)
	if m.loadMeta() != nil {
		t.Fatal("an unused meter publishes load")
	}
	// 10 calls/s for 10 s: the first reading is the plain average.
	for range 100 {
		m.Mark()
	}
	c.add(10 * time.Second)
	if r := m.Rate(); !near(r, 10, 1e-9) {
		t.Fatalf("first rate %v, want 10", r)
	}
	// Then silence for a minute: an EWMA with a 1-minute window decays by e.
	c.add(time.Minute)
	if r := m.Rate(); !near(r, 10/math.E, 1e-9) {
		t.Fatalf("rate after 1 min idle %v, want %v", r, 10/math.E)
	}
	// Reading twice without time passing changes nothing.
	r1, r2 := m.Rate(), m.Rate()
	if r1 != r2 {
		t.Fatalf("rate moved without time passing: %v then %v", r1, r2)
	}
	m.ConnOpened()
	m.ConnOpened()
	m.ConnClosed()
	meta := m.loadMeta()
	// rpcx's keys are mean rates since start (100 calls, 2 connections in
	// 70 s), with %.2f; the counts have keys of their own.
	if meta[MetaCalls] != "1.43" || meta[MetaConnections] != "0.03" || meta[MetaTPS] != "3.68" ||
		meta[MetaCallsTotal] != "100" || meta[MetaConnectionsOpen] != "1" {
		t.Fatalf("load metadata %v", meta)
	}
}

func TestLoadChangedPolicy(t *testing.T) {
	tps := func(v string) Metadata { return Metadata{MetaTPS: v, MetaConnectionsOpen: "1"} }
	cases := []struct {
		name      string
		pub, cur  Metadata
		since     int
		wantWrite bool
	}{
		{"meter unused", nil, nil, 1, false},
		{"first value", nil, tps("5"), 1, true},
		{"same value", tps("5"), tps("5"), 100, false},
		{"moved 5%", tps("100"), tps("105"), 1, false},
		{"moved 10%", tps("100"), tps("110"), 1, true},
		{"moved down 20%", tps("100"), tps("80"), 1, true},
		{"small drift, old enough", tps("100"), tps("101"), publishEvery, true},
		{"from zero", tps("0"), tps("0.5"), 1, true},
		{"connections changed", tps("5"), Metadata{MetaTPS: "5", MetaConnectionsOpen: "2"}, 1, true},
		{"only the mean rates moved", tps("5"), Metadata{MetaTPS: "5", MetaConnectionsOpen: "1", MetaCalls: "9.99"}, 1, false},
	}
	for _, c := range cases {
		if got := loadChanged(c.pub, c.cur, c.since); got != c.wantWrite {
			t.Errorf("%s: write=%v, want %v", c.name, got, c.wantWrite)
		}
	}
}

func TestBackoffBoundsAndJitter(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Cap: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for i, w := range want {
		d := b.Next()
		hi := w * time.Millisecond
		if d < hi/2 || d > hi {
			t.Fatalf("attempt %d: %v outside [%v, %v]", i, d, hi/2, hi)
		}
	}
	// Jitter: many processes starting at once do not all pick the same delay.
	seen := map[time.Duration]bool{}
	for range 50 {
		b := Backoff{Base: 100 * time.Millisecond, Cap: time.Second}
		seen[b.Next()] = true
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct first delays out of 50: not jittered", len(seen))
	}
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Fatalf("after reset: %v", d)
	}
}
