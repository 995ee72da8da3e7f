package selector

import (
	"cmp"
	"math/bits"
	"slices"
	"strconv"
	"sync"
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
//
// It is Incremental: a change inserts or removes only the changed
// instances' points (Update works the change out from the full list), so
// adding or removing one instance among 10,000 costs a fraction of a
// millisecond instead of rebuilding the 1.6M-point ring.
func NewConsistentHash() Selector { return &consistentHash{} }

// bucketNodes is the mean number of nodes per ring bucket. A change copies
// the bucket table (8 bytes per 32 nodes: 400 KB at 10,000 instances) and
// the few buckets it touches; Select binary-searches one bucket.
const bucketNodes = 32

type consistentHash struct {
	snap atomic.Pointer[ring]

	mu     sync.Mutex        // serialises changes
	slotOf map[string]uint32 // address → slot in the current ring's insts
	free   []uint32          // slots of removed instances, for reuse
}

// ring is an immutable snapshot. The sorted ring is cut into buckets by the
// top bits of the hash, so a change copies only the buckets it touches.
type ring struct {
	insts   []core.Instance // by slot; a free slot holds the zero Instance
	buckets [][]vnode       // bucket b: the nodes with hash>>shift == b, sorted
	shift   uint            // 64 - log2(len(buckets))
	nodes   int
}

type vnode struct {
	hash  uint64
	owner uint32 // slot in insts
}

func (c *consistentHash) Update(instances []core.Instance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.snap.Load()
	if r == nil || len(c.slotOf) == 0 {
		c.rebuild(instances)
		return
	}
	upserted, removed := diffIndexed(r.insts, c.slotOf, instances)
	if len(upserted)+len(removed) > len(c.slotOf)/4 {
		c.rebuild(instances) // a rebuild is cheaper than many single changes
		return
	}
	c.apply(r, upserted, removed)
}

func (c *consistentHash) Apply(upserted, removed []core.Instance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.snap.Load()
	if r == nil {
		r = &ring{buckets: make([][]vnode, 1), shift: 64}
		c.slotOf = map[string]uint32{}
	}
	c.apply(r, upserted, removed)
}

// rebuild makes a ring from scratch out of the first instance of every
// address in list.
func (c *consistentHash) rebuild(list []core.Instance) {
	r := &ring{}
	c.slotOf = make(map[string]uint32, len(list))
	c.free = nil
	for _, inst := range list {
		if _, dup := c.slotOf[inst.Addr]; !dup {
			c.slotOf[inst.Addr] = uint32(len(r.insts))
			r.insts = append(r.insts, inst)
		}
	}
	nodes := make([]vnode, 0, len(r.insts)*virtualNodes)
	var buf []byte
	for slot, inst := range r.insts {
		for v := range virtualNodes {
			nodes = append(nodes, vnode{hash: pointHash(&buf, inst.Addr, v), owner: uint32(slot)})
		}
	}
	slices.SortFunc(nodes, r.compare)
	r.nodes = len(nodes)
	nbits := bits.Len(uint(len(nodes) / bucketNodes))
	r.shift = uint(64 - nbits)
	r.buckets = make([][]vnode, 1<<nbits)
	for b := range r.buckets {
		// Clip: a change copies a bucket before writing, never appends in place.
		end, _ := slices.BinarySearchFunc(nodes, uint64(b+1), func(n vnode, next uint64) int {
			return cmp.Compare(n.hash>>r.shift, next)
		})
		if nbits == 0 {
			end = len(nodes)
		}
		r.buckets[b] = slices.Clip(nodes[:end:end])
		nodes = nodes[end:]
	}
	c.snap.Store(r)
}

// apply publishes r changed by upserted and removed, copying only what it
// changes; it rebuilds instead when the buckets no longer fit the ring size.
func (c *consistentHash) apply(old *ring, upserted, removed []core.Instance) {
	r := &ring{insts: slices.Clone(old.insts), buckets: slices.Clone(old.buckets), shift: old.shift, nodes: old.nodes}
	copied := map[uint64]bool{} // buckets already copied for this change
	bucket := func(h uint64) *[]vnode {
		b := h >> r.shift
		if !copied[b] {
			copied[b] = true
			r.buckets[b] = slices.Clone(r.buckets[b])
		}
		return &r.buckets[b]
	}
	var buf []byte
	for _, inst := range removed {
		slot, ok := c.slotOf[inst.Addr]
		if !ok {
			continue
		}
		for v := range virtualNodes {
			h := pointHash(&buf, inst.Addr, v)
			p := bucket(h)
			if i := slices.Index(*p, vnode{hash: h, owner: slot}); i >= 0 {
				*p = slices.Delete(*p, i, i+1)
				r.nodes--
			}
		}
		r.insts[slot] = core.Instance{}
		delete(c.slotOf, inst.Addr)
		c.free = append(c.free, slot)
	}
	for _, inst := range upserted {
		if slot, ok := c.slotOf[inst.Addr]; ok {
			r.insts[slot] = inst // new metadata, same points
			continue
		}
		var slot uint32
		if n := len(c.free); n > 0 {
			slot, c.free = c.free[n-1], c.free[:n-1]
			r.insts[slot] = inst
		} else {
			slot = uint32(len(r.insts))
			r.insts = append(r.insts, inst)
		}
		c.slotOf[inst.Addr] = slot
		for v := range virtualNodes {
			node := vnode{hash: pointHash(&buf, inst.Addr, v), owner: slot}
			p := bucket(node.hash)
			i, _ := slices.BinarySearchFunc(*p, node, r.compare)
			*p = slices.Insert(*p, i, node)
			r.nodes++
		}
	}
	if len(r.buckets) > 1 && r.nodes < len(r.buckets)*bucketNodes/4 || r.nodes > len(r.buckets)*bucketNodes*4 {
		c.rebuild(r.live()) // resize the buckets: amortised over many changes
		return
	}
	c.snap.Store(r)
}

// live returns the instances in use, without free slots.
func (r *ring) live() []core.Instance {
	out := make([]core.Instance, 0, len(r.insts))
	for _, in := range r.insts {
		if in.Addr != "" {
			out = append(out, in)
		}
	}
	return out
}

// compare orders nodes by hash; ties (practically never) by address, not by
// list order, so that every process builds the same ring.
func (r *ring) compare(a, b vnode) int {
	return cmp.Or(cmp.Compare(a.hash, b.hash), cmp.Compare(r.insts[a.owner].Addr, r.insts[b.owner].Addr))
}

// pointHash is the ring position of addr's virtual node v; buf is scratch.
func pointHash(buf *[]byte, addr string, v int) uint64 {
	*buf = append(append((*buf)[:0], addr...), '#')
	*buf = strconv.AppendInt(*buf, int64(v), 10)
	return hashKey(*buf)
}

func (c *consistentHash) Select(key string) (Pick, error) {
	r := c.snap.Load()
	if r == nil || r.nodes == 0 {
		return Pick{}, ErrNoInstances
	}
	h := hashKey(key)
	b := h >> r.shift // a shift of 64 gives 0: one bucket
	for {
		nodes := r.buckets[b]
		lo, hi := 0, len(nodes)
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if nodes[mid].hash < h {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		if lo < len(nodes) {
			return Pick{Instance: r.insts[nodes[lo].owner]}, nil
		}
		// Past this bucket's last node: the first node of the next non-empty
		// bucket, wrapping around the ring.
		if b++; b == uint64(len(r.buckets)) {
			b = 0
		}
		h = 0
	}
}
