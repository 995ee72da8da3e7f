package core

import (
	"iter"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Snapshot is an immutable list of instances sorted by address, shared by
// every subscriber that watches the same service with the same filters.
//
// It is stored as a sorted run of small chunks, each never changed once
// published. A change copies the chunk it lands in (at most chunkMax
// instances) and the table of chunk pointers, and shares every other chunk
// with the snapshot it came from, so a change costs O(log n + n/chunkMax +
// chunkMax), not a copy of the list. Slice materialises the flat list once,
// on first use, for whoever wants a []Instance.
type Snapshot struct {
	chunks [][]Instance // sorted, non-empty, never modified
	n      int

	flatOnce sync.Once
	flat     []Instance
}

const (
	chunkTarget = 64  // chunk size when building from a list
	chunkMax    = 128 // a chunk that grows past this splits in two
)

var emptySnapshot = &Snapshot{}

// snapshotOf builds a snapshot from a list sorted by address, unique.
func snapshotOf(sorted []Instance) *Snapshot {
	if len(sorted) == 0 {
		return emptySnapshot
	}
	s := &Snapshot{n: len(sorted), chunks: make([][]Instance, 0, (len(sorted)+chunkTarget-1)/chunkTarget)}
	for len(sorted) > 0 {
		k := min(chunkTarget, len(sorted))
		s.chunks = append(s.chunks, slices.Clip(slices.Clone(sorted[:k])))
		sorted = sorted[k:]
	}
	return s
}

// Len returns the number of instances.
func (s *Snapshot) Len() int {
	if s == nil {
		return 0
	}
	return s.n
}

// All yields the instances in address order.
func (s *Snapshot) All() iter.Seq[Instance] {
	return func(yield func(Instance) bool) {
		if s == nil {
			return
		}
		for _, c := range s.chunks {
			for _, in := range c {
				if !yield(in) {
					return
				}
			}
		}
	}
}

// Slice returns the instances as one slice sorted by address. It is built
// once per snapshot and shared: never modify it.
func (s *Snapshot) Slice() []Instance {
	if s == nil {
		return []Instance{}
	}
	s.flatOnce.Do(func() {
		s.flat = make([]Instance, 0, s.n)
		for _, c := range s.chunks {
			s.flat = append(s.flat, c...)
		}
	})
	return s.flat
}

// Get returns the instance at addr.
func (s *Snapshot) Get(addr string) (Instance, bool) {
	if s == nil {
		return Instance{}, false
	}
	ci := s.chunkFor(addr)
	if ci == len(s.chunks) {
		return Instance{}, false
	}
	c := s.chunks[ci]
	i, found := slices.BinarySearchFunc(c, addr, cmpAddr)
	if !found {
		return Instance{}, false
	}
	return c[i], true
}

// chunkFor returns the index of the first chunk whose last address is >=
// addr: the chunk that holds addr, or where it would go (len(chunks) when
// addr sorts after everything).
func (s *Snapshot) chunkFor(addr string) int {
	i, _ := slices.BinarySearchFunc(s.chunks, addr, func(c []Instance, a string) int {
		return strings.Compare(c[len(c)-1].Addr, a)
	})
	return i
}

func cmpAddr(in Instance, addr string) int { return strings.Compare(in.Addr, addr) }

// with returns s with puts written (new addresses or new values) and the
// addresses in dels removed. s is unchanged. Large changes rebuild.
func (s *Snapshot) with(puts []Instance, dels []string) *Snapshot {
	k := len(puts) + len(dels)
	if k == 0 {
		return s
	}
	if k > 16 && k > s.Len()/16 {
		return s.rebuilt(puts, dels)
	}
	out := &Snapshot{chunks: s.chunks, n: s.Len()}
	copied := false // out.chunks is a private copy of the table
	own := func() {
		if !copied {
			out.chunks = slices.Clone(out.chunks)
			copied = true
		}
	}
	for _, p := range puts {
		own()
		out.put(p)
	}
	for _, a := range dels {
		if out.has(a) {
			own()
			out.del(a)
		}
	}
	return out
}

func (s *Snapshot) has(addr string) bool { _, ok := s.Get(addr); return ok }

// put writes one instance; s.chunks is s's own table.
func (s *Snapshot) put(in Instance) {
	if len(s.chunks) == 0 {
		s.chunks = append(s.chunks, []Instance{in})
		s.n++
		return
	}
	ci := min(s.chunkFor(in.Addr), len(s.chunks)-1)
	c := s.chunks[ci]
	i, found := slices.BinarySearchFunc(c, in.Addr, cmpAddr)
	if found {
		nc := slices.Clone(c)
		nc[i] = in
		s.chunks[ci] = nc
		return
	}
	nc := make([]Instance, 0, len(c)+1)
	nc = append(append(append(nc, c[:i]...), in), c[i:]...)
	s.n++
	if len(nc) <= chunkMax {
		s.chunks[ci] = nc
		return
	}
	half := len(nc) / 2
	left, right := slices.Clip(nc[:half]), slices.Clone(nc[half:])
	s.chunks = slices.Insert(s.chunks, ci+1, right)
	s.chunks[ci] = left
}

// del removes a present address; s.chunks is s's own table.
func (s *Snapshot) del(addr string) {
	ci := s.chunkFor(addr)
	c := s.chunks[ci]
	i, _ := slices.BinarySearchFunc(c, addr, cmpAddr)
	s.n--
	if len(c) == 1 {
		s.chunks = slices.Delete(s.chunks, ci, ci+1)
		return
	}
	nc := make([]Instance, 0, len(c)-1)
	s.chunks[ci] = append(append(nc, c[:i]...), c[i+1:]...)
}

// rebuilt merges the change into a fresh snapshot, for large changes.
func (s *Snapshot) rebuilt(puts []Instance, dels []string) *Snapshot {
	byAddr := make(map[string]Instance, len(puts))
	for _, p := range puts {
		byAddr[p.Addr] = p
	}
	gone := make(map[string]bool, len(dels))
	for _, a := range dels {
		gone[a] = true
	}
	list := make([]Instance, 0, s.Len()+len(puts))
	for in := range s.All() {
		switch p, ok := byAddr[in.Addr]; {
		case gone[in.Addr]:
		case ok:
			list = append(list, p)
		default:
			list = append(list, in)
		}
		delete(byAddr, in.Addr)
	}
	for _, p := range byAddr {
		if !gone[p.Addr] {
			list = append(list, p)
		}
	}
	return snapshotOf(uniqueByAddr(list))
}

func sameInstance(a, b Instance) bool {
	return a.Service == b.Service && a.Addr == b.Addr && maps.Equal(a.Meta, b.Meta)
}
