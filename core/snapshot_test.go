package core

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// Random puts and deletes, small and large, against a map: every snapshot
// holds exactly the model, sorted, in valid chunks, and the snapshot it came
// from is unchanged (copy-on-write).
func TestSnapshotModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[string]Instance{}
	s := snapshotOf(nil)
	for step := range 500 {
		var puts []Instance
		var dels []string
		k := 1 + rng.IntN(3)
		if step%50 == 49 {
			k = 200 // a large change takes the rebuild path
		}
		for range k {
			addr := fmt.Sprintf("tcp@h:%d", rng.IntN(1000))
			if rng.IntN(3) == 0 {
				dels = append(dels, addr)
			} else {
				puts = append(puts, Instance{Service: "s", Addr: addr, Meta: Metadata{"v": fmt.Sprint(step)}})
			}
		}
		before := describeSnap(s)
		next := s.with(puts, dels)
		if describeSnap(s) != before {
			t.Fatalf("step %d: with changed the snapshot it came from", step)
		}
		for _, p := range puts {
			model[p.Addr] = p
		}
		for _, a := range dels {
			delete(model, a)
		}
		s = next
		checkSnapshot(t, s, model)
	}
}

func checkSnapshot(t *testing.T, s *Snapshot, model map[string]Instance) {
	t.Helper()
	if s.Len() != len(model) {
		t.Fatalf("Len %d, model %d", s.Len(), len(model))
	}
	for _, c := range s.chunks {
		if len(c) == 0 || len(c) > chunkMax {
			t.Fatalf("chunk of %d instances", len(c))
		}
	}
	got := s.Slice()
	if !slices.IsSortedFunc(got, func(a, b Instance) int { return strings.Compare(a.Addr, b.Addr) }) {
		t.Fatal("not sorted")
	}
	want := slices.Sorted(maps.Keys(model))
	for i, in := range got {
		if in.Addr != want[i] || in.Meta["v"] != model[in.Addr].Meta["v"] {
			t.Fatalf("at %d: %v, want %v", i, in, model[want[i]])
		}
		if g, ok := s.Get(in.Addr); !ok || g.Addr != in.Addr {
			t.Fatalf("Get(%s) = %v %v", in.Addr, g, ok)
		}
	}
	if _, ok := s.Get("tcp@h:99999"); ok {
		t.Fatal("Get found an absent address")
	}
}

func describeSnap(s *Snapshot) string {
	var b strings.Builder
	for in := range s.All() {
		b.WriteString(in.Addr + "=" + in.Meta["v"] + " ")
	}
	return b.String()
}
