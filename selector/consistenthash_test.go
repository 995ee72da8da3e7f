package selector

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/seedforge/discovery/core"
)

// The hash is part of the wire contract between processes: pin it.
func TestHashIsFixed(t *testing.T) {
	for _, s := range []string{"", "a", "tcp@10.0.0.1:8972#0", "ключ"} {
		h := fnv.New64a()
		h.Write([]byte(s))
		if got, want := fnv1a64(s), h.Sum64(); got != want {
			t.Errorf("fnv1a64(%q) = %#x, hash/fnv says %#x", s, got, want)
		}
		if fnv1a64(s) != fnv1a64([]byte(s)) {
			t.Errorf("fnv1a64(%q) differs for string and []byte", s)
		}
	}
	// Computed independently (Python) from FNV-1a 64 and murmur3 fmix64.
	for s, want := range map[string]uint64{
		"":                    0xefd01f60ba992926,
		"a":                   0x82a2a958a9bece5b,
		"tcp@10.0.0.1:8972#0": 0x68cc6744d84b952b,
	} {
		if got := hashKey(s); got != want {
			t.Errorf("hashKey(%q) = %#x, want %#x", s, got, want)
		}
	}
}

// Keys map to these addresses in every process and release; the values were
// computed once. A change here breaks affinity across a rolling upgrade.
func TestConsistentHashGolden(t *testing.T) {
	list := withAddrs("tcp@10.0.0.1:8972", "tcp@10.0.0.2:8972", "tcp@10.0.0.3:8972", "tcp@10.0.0.4:8972", "unix@/tmp/s.sock")
	golden := []struct{ key, addr string }{
		{"", "tcp@10.0.0.3:8972"},
		{"a", "tcp@10.0.0.3:8972"},
		{"user-1", "tcp@10.0.0.3:8972"},
		{"user-2", "tcp@10.0.0.1:8972"},
		{"user-3", "tcp@10.0.0.4:8972"},
		{"order/42", "tcp@10.0.0.2:8972"},
		{"order/43", "tcp@10.0.0.1:8972"},
		{"ключ", "tcp@10.0.0.1:8972"},
		{"tenant:acme", "unix@/tmp/s.sock"},
		{"session-9f2c", "tcp@10.0.0.3:8972"},
	}
	s := NewConsistentHash()
	s.Update(list)
	for _, g := range golden {
		p, err := s.Select(g.key)
		if err != nil || p.Instance.Addr != g.addr {
			t.Errorf("Select(%q) = %q, %v; want %q", g.key, p.Instance.Addr, err, g.addr)
		}
	}
}

func TestConsistentHashIgnoresOrder(t *testing.T) {
	list := instances(30, nil)
	a := NewConsistentHash()
	a.Update(list)
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 5 {
		shuffled := append([]core.Instance{}, list...)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		// Duplicates and metadata must not matter either.
		shuffled = append(shuffled, core.Instance{Service: "svc", Addr: list[round].Addr, Meta: core.Metadata{"weight": "9"}})
		b := NewConsistentHash()
		b.Update(shuffled)
		for k := range 2000 {
			key := fmt.Sprint("key-", k)
			pa, _ := a.Select(key)
			pb, _ := b.Select(key)
			if pa.Instance.Addr != pb.Instance.Addr {
				t.Fatalf("round %d: key %q -> %s in list order, %s shuffled", round, key, pa.Instance.Addr, pb.Instance.Addr)
			}
		}
	}
}

func TestConsistentHashSameKeySameInstance(t *testing.T) {
	s := NewConsistentHash()
	s.Update(instances(10, nil))
	for _, key := range []string{"", "x", "user-7"} {
		first, _ := s.Select(key)
		for range 100 {
			if p, _ := s.Select(key); p.Instance.Addr != first.Instance.Addr {
				t.Fatalf("key %q moved from %s to %s", key, first.Instance.Addr, p.Instance.Addr)
			}
		}
	}
}

func mapKeys(s Selector, n int) []string {
	out := make([]string, n)
	for i := range out {
		p, _ := s.Select(fmt.Sprint("key-", i))
		out[i] = p.Instance.Addr
	}
	return out
}

func TestConsistentHashMinimalMovement(t *testing.T) {
	const keys = 10000
	ten := instances(10, nil)
	s := NewConsistentHash()
	s.Update(ten)
	before := mapKeys(s, keys)

	t.Run("add", func(t *testing.T) {
		s := NewConsistentHash()
		s.Update(instances(11, nil))
		after := mapKeys(s, keys)
		moved := 0
		for i := range after {
			if after[i] != before[i] {
				moved++
				if after[i] != addr(10) {
					t.Fatalf("key %d moved between old instances: %s -> %s", i, before[i], after[i])
				}
			}
		}
		// Ideal is 1/11 (909); allow the spread of 160 virtual nodes.
		if moved == 0 || moved >= 2*keys/11 {
			t.Fatalf("%d of %d keys moved, want about %d", moved, keys, keys/11)
		}
		t.Logf("%d of %d keys moved (ideal %d)", moved, keys, keys/11)
	})
	t.Run("remove", func(t *testing.T) {
		s := NewConsistentHash()
		removed := ten[3].Addr
		s.Update(append(append([]core.Instance{}, ten[:3]...), ten[4:]...))
		after := mapKeys(s, keys)
		for i := range after {
			if (before[i] == removed) != (after[i] != before[i]) {
				t.Fatalf("key %d: %s -> %s after removing %s", i, before[i], after[i], removed)
			}
		}
	})
}

func TestConsistentHashBalance(t *testing.T) {
	s := NewConsistentHash()
	s.Update(instances(10, nil))
	for a, n := range count(t, s, 100000, func(i int) string { return fmt.Sprint("key-", i) }) {
		if n < 7000 || n > 13000 {
			t.Errorf("%s got %d of 100000 keys, want about 10000", a, n)
		}
	}
}

// The buckets must give the same answer as a plain search of the whole ring.
func TestConsistentHashIndex(t *testing.T) {
	for _, n := range []int{1, 2, 3, 10, 100} {
		s := NewConsistentHash().(*consistentHash)
		s.Update(instances(n, nil))
		r := s.snap.Load()
		var nodes []vnode
		for _, b := range r.buckets {
			nodes = append(nodes, b...)
		}
		if len(nodes) != n*virtualNodes || !slices.IsSortedFunc(nodes, r.compare) {
			t.Fatalf("n=%d: %d nodes, sorted %v", n, len(nodes), slices.IsSortedFunc(nodes, r.compare))
		}
		for k := range 5000 {
			key := fmt.Sprint(k)
			h := hashKey(key)
			want := 0
			for want < len(nodes) && nodes[want].hash < h {
				want++
			}
			want %= len(nodes)
			p, _ := s.Select(key)
			if w := r.insts[nodes[want].owner].Addr; p.Instance.Addr != w {
				t.Fatalf("n=%d key %q: %s, plain search %s", n, key, p.Instance.Addr, w)
			}
		}
	}
}

// Whatever the history of changes (Apply, or Update with a few changes, with
// the buckets resized on the way), the ring maps every key as a ring built
// at once from the same instances does, and holds their metadata.
func TestConsistentHashChangesMatchRebuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := NewConsistentHash().(*consistentHash)
	cur := map[int]core.Instance{} // the model: instance number → instance
	list := func() []core.Instance {
		out := make([]core.Instance, 0, len(cur))
		for _, in := range cur {
			out = append(out, in)
		}
		return out
	}
	for step := range 300 {
		var up, down []core.Instance
		touched := map[int]bool{}      // one change per address and step
		size := 150 + 150*(step/100%2) // grows to ~300, shrinks, grows
		for range 1 + rng.IntN(3) {
			i := rng.IntN(2 * size)
			if touched[i] {
				continue
			}
			touched[i] = true
			in := core.Instance{Service: "svc", Addr: addr(i), Meta: core.Metadata{"v": fmt.Sprint(step)}}
			if _, ok := cur[i]; ok && rng.IntN(3) == 0 {
				delete(cur, i)
				down = append(down, in)
			} else {
				cur[i] = in
				up = append(up, in)
			}
		}
		if step%2 == 0 {
			s.Apply(up, down)
		} else {
			s.Update(list())
		}
		if step%25 != 24 {
			continue
		}
		fresh := NewConsistentHash()
		fresh.Update(list())
		for k := range 2000 {
			key := fmt.Sprint("key-", k)
			got, err1 := s.Select(key)
			want, err2 := fresh.Select(key)
			if err1 != nil || err2 != nil || !sameInstance(got.Instance, want.Instance) {
				t.Fatalf("step %d key %s: %v %v, rebuilt ring: %v %v", step, key, got.Instance, err1, want.Instance, err2)
			}
		}
		if r := s.snap.Load(); r.nodes != len(cur)*virtualNodes {
			t.Fatalf("step %d: %d nodes for %d instances", step, r.nodes, len(cur))
		}
	}
}

// Removing everything and adding again through Apply works from any state,
// including a selector that never had Update.
func TestConsistentHashApplyFromEmpty(t *testing.T) {
	s := NewConsistentHash().(*consistentHash)
	s.Apply(withAddrs("tcp@a:1", "tcp@b:1"), nil)
	if got := count(t, s, 1000, func(i int) string { return fmt.Sprint(i) }); len(got) != 2 {
		t.Fatalf("picks %v, want both", got)
	}
	s.Apply(nil, withAddrs("tcp@a:1", "tcp@b:1", "tcp@unknown:1"))
	if _, err := s.Select("k"); !errors.Is(err, ErrNoInstances) {
		t.Fatalf("after removing all: %v, want ErrNoInstances", err)
	}
	s.Apply(withAddrs("tcp@c:1"), nil)
	if p, err := s.Select("k"); err != nil || p.Instance.Addr != "tcp@c:1" {
		t.Fatalf("Select = %v, %v", p.Instance.Addr, err)
	}
}
