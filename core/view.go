package core

import "log/slog"

// view is one filtered list of a service: the filtered snapshot that every
// subscriber with the same filters shares. Views of core's own filters live
// in the serviceWatch and move with it; a subscriber with user filters has a
// view of its own, moved by its own goroutine.
type view struct {
	filter *filterSet
	snap   *Snapshot // nil until the first list
	// whole: snap is the base itself, since the filter kept every instance
	// of it (the common case: no group, version or inactive instance). The
	// view then shares the base's snapshot instead of building its own copy.
	whole bool
	subs  map[*subscriber]struct{}
}

// advance moves v to base, given the addresses whose instances changed since
// the base v saw last (all of them when reset). It returns the Update for
// v's subscribers, or false when nothing they see changed. O(changed · log n).
func (v *view) advance(base *Snapshot, changed []string, reset bool, log *slog.Logger) (Update, bool) {
	var tally panicTally
	defer tally.report(log)
	if reset || v.snap == nil {
		list := make([]Instance, 0, base.Len())
		for in := range base.All() {
			if v.filter.check(in, &tally) {
				list = append(list, in)
			}
		}
		v.snap, v.whole = base, len(list) == base.Len()
		if !v.whole {
			v.snap = snapshotOf(list)
		}
		return Update{List: v.snap, Reset: true}, true
	}
	var seen map[string]bool
	if len(changed) > 1 {
		seen = make(map[string]bool, len(changed))
	}
	var puts, removed []Instance
	var dels []string
	dropped := false // base holds a changed instance the filter drops
	for _, a := range changed {
		if seen != nil {
			if seen[a] {
				continue
			}
			seen[a] = true
		}
		in, ok := base.Get(a)
		old, had := v.snap.Get(a)
		keep := ok && v.filter.check(in, &tally)
		dropped = dropped || ok && !keep
		switch {
		case keep:
			if !had || !sameInstance(old, in) {
				puts = append(puts, in)
			}
		case had:
			dels = append(dels, a)
			removed = append(removed, old)
		}
	}
	// A view that shares its base keeps sharing while the filter keeps
	// every changed instance: base is then what with would build. Once base
	// holds an instance the filter drops, v.snap is the view's own, even if
	// nothing it shows changes now.
	v.whole = v.whole && !dropped
	if v.whole {
		v.snap = base
	}
	if len(puts) == 0 && len(dels) == 0 {
		return Update{}, false
	}
	if !v.whole {
		v.snap = v.snap.with(puts, dels)
	}
	return Update{List: v.snap, Upserted: puts, Removed: removed}, true
}
