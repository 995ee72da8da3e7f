package selector

import (
	"maps"

	"github.com/seedforge/discovery/core"
)

// Incremental is implemented by selectors that take a change to the list in
// time proportional to the change, not to the list: consistenthash inserts
// and removes one instance's ring points instead of rebuilding the ring
// (1.6M points at 10,000 instances). Follow hands such selectors what
// changed; Update still takes whole lists and works out the change itself.
type Incremental interface {
	Selector
	// Apply changes the current list: each instance of removed, matched by
	// address, is dropped (unknown ones are ignored); then each instance of
	// upserted is added, or replaces the one with the same address (new
	// metadata). A new snapshot is published atomically, as by Update, and
	// the slices are not kept. The arguments are those of core.Update.
	Apply(upserted, removed []core.Instance)
}

// sameInstance says whether a and b are the same instance with the same
// metadata.
func sameInstance(a, b core.Instance) bool {
	return a.Service == b.Service && a.Addr == b.Addr && maps.Equal(a.Meta, b.Meta)
}

// diffList returns what turns prev (unique addresses) into list: the
// instances that are new or changed, and those that are gone. An address
// twice in list counts once, the first one.
func diffList(prev, list []core.Instance) (upserted, removed []core.Instance) {
	index := make(map[string]uint32, len(prev))
	for i, in := range prev {
		index[in.Addr] = uint32(i)
	}
	return diffIndexed(prev, index, list)
}

// diffIndexed is diffList with prev indexed by address already; slots of
// prev whose Addr is empty are free and ignored. One map lookup per
// instance: the addresses kept are marked by index.
func diffIndexed(prev []core.Instance, index map[string]uint32, list []core.Instance) (upserted, removed []core.Instance) {
	kept := make([]bool, len(prev))
	var added map[string]bool // new addresses, to skip their duplicates
	for _, in := range list {
		if i, ok := index[in.Addr]; ok {
			if !kept[i] {
				kept[i] = true
				if !sameInstance(prev[i], in) {
					upserted = append(upserted, in)
				}
			}
			continue
		}
		if added == nil {
			added = map[string]bool{}
		}
		if !added[in.Addr] {
			added[in.Addr] = true
			upserted = append(upserted, in)
		}
	}
	for i, k := range kept {
		if !k && prev[i].Addr != "" {
			removed = append(removed, prev[i])
		}
	}
	return upserted, removed
}

// uniqueInstances returns a copy of list with the first instance of every
// address, in list order.
func uniqueInstances(list []core.Instance) []core.Instance {
	out := make([]core.Instance, 0, len(list))
	seen := make(map[string]bool, len(list))
	for _, in := range list {
		if !seen[in.Addr] {
			seen[in.Addr] = true
			out = append(out, in)
		}
	}
	return out
}
