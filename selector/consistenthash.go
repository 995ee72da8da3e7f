package selector

import (
	"cmp"
	"math/bits"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/seedforge/discovery/core"
)

// virtualNodes per instance: enough that each instance owns many small arcs,
// so load is even (about ±10%) and a change moves only about 1/n of the keys.
const virtualNodes = 160

// NewConsistentHash returns a Selector that maps Select's key to an instance
// on a hash ring: the same key goes to the same instance while it is present,
// and adding or removing an instance moves only about 1/n of the keys.
//
// The ring positions come from the instance address only (FNV-1a 64 of
// "addr#i" for i in 0..159, finalised with murmur3's fmix64), a fixed hash
// that is the same in every process and release. The mapping therefore does
// not depend on list order, on the process, or on metadata; weights are not
// used. A duplicated address is one instance. The empty key is a key like
// any other.
func NewConsistentHash() Selector { return &consistentHash{} }

type consistentHash struct {
	snap atomic.Pointer[ring]
}

type ring struct {
	list  []core.Instance // unique addresses
	nodes []vnode         // sorted by hash
	// index[b] is the first position in nodes whose hash>>shift >= b, so a
	// lookup binary-searches only the few nodes of one bucket.
	index []uint32
	shift uint
}

type vnode struct {
	hash  uint64
	owner uint32 // index into list
}

func (c *consistentHash) Update(instances []core.Instance) {
	r := &ring{}
	seen := make(map[string]bool, len(instances))
	for _, inst := range instances {
		if !seen[inst.Addr] {
			seen[inst.Addr] = true
			r.list = append(r.list, inst)
		}
	}
	r.nodes = make([]vnode, 0, len(r.list)*virtualNodes)
	var buf []byte
	for i, inst := range r.list {
		for v := range virtualNodes {
			buf = append(append(buf[:0], inst.Addr...), '#')
			buf = strconv.AppendInt(buf, int64(v), 10)
			r.nodes = append(r.nodes, vnode{hash: hashKey(buf), owner: uint32(i)})
		}
	}
	// Ties (practically never) are broken by address, not list order, so
	// every process builds the same ring.
	slices.SortFunc(r.nodes, func(a, b vnode) int {
		return cmp.Or(cmp.Compare(a.hash, b.hash), cmp.Compare(r.list[a.owner].Addr, r.list[b.owner].Addr))
	})

	// About one node per bucket.
	nbits := bits.Len(uint(len(r.nodes)))
	r.shift = uint(64 - nbits)
	r.index = make([]uint32, 1<<nbits+1)
	p := 0
	for b := range 1 << nbits {
		for p < len(r.nodes) && r.nodes[p].hash>>r.shift < uint64(b) {
			p++
		}
		r.index[b] = uint32(p)
	}
	r.index[1<<nbits] = uint32(len(r.nodes))
	c.snap.Store(r)
}

func (c *consistentHash) Select(key string) (Pick, error) {
	r := c.snap.Load()
	if r == nil || len(r.nodes) == 0 {
		return Pick{}, ErrNoInstances
	}
	h := hashKey(key)
	b := h >> r.shift // shift is 64 only for an empty ring, handled above
	lo, hi := r.index[b], r.index[b+1]
	for lo < hi {
		mid := (lo + hi) / 2
		if r.nodes[mid].hash < h {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if int(lo) == len(r.nodes) { // past the last node: wrap to the first
		lo = 0
	}
	return Pick{Instance: r.list[r.nodes[lo].owner]}, nil
}
