package core

import (
	"log/slog"
	"slices"
	"testing"
)

// A view whose filter keeps every instance shares the base snapshot instead
// of copying it, and stops sharing once the base holds an instance the
// filter drops, even when that instance changes nothing the view shows.
func TestViewSharesBaseUntilFilterDrops(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	v := &view{filter: &filterSet{}} // drops inactive instances
	active := func(port string) Instance { return Instance{Service: "s", Addr: "tcp@10.0.0.1:" + port} }
	a, b, c := active("1"), active("2"), active("3")
	idle := Instance{Service: "s", Addr: "tcp@10.0.0.1:9", Meta: Metadata{MetaState: StateInactive}}
	addrs := func(s *Snapshot) []string {
		var out []string
		for in := range s.All() {
			out = append(out, in.Addr)
		}
		return out
	}

	base := snapshotOf([]Instance{a})
	if u, ok := v.advance(base, nil, true, log); !ok || u.List != base {
		t.Fatalf("first list: the view made its own copy of a base it keeps whole")
	}
	next := base.with([]Instance{b}, nil)
	if u, ok := v.advance(next, []string{b.Addr}, false, log); !ok || u.List != next || len(u.Upserted) != 1 || u.Upserted[0].Addr != b.Addr {
		t.Fatalf("one instance added: %+v, want the base itself and b upserted", u)
	}
	base = next
	next = base.with([]Instance{idle}, nil)
	if u, ok := v.advance(next, []string{idle.Addr}, false, log); ok {
		t.Fatalf("an inactive instance joining gave the view an update: %v", addrs(u.List))
	}
	base = next
	next = base.with([]Instance{c}, []string{a.Addr})
	u, ok := v.advance(next, []string{c.Addr, a.Addr}, false, log)
	if want := []string{b.Addr, c.Addr}; !ok || !slices.Equal(addrs(u.List), want) {
		t.Fatalf("after the inactive instance, the view lists %v, want %v", addrs(u.List), want)
	}
	if len(u.Upserted) != 1 || u.Upserted[0].Addr != c.Addr || len(u.Removed) != 1 || u.Removed[0].Addr != a.Addr {
		t.Fatalf("update %+v, want c upserted and a removed", u)
	}
}
