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
		v.snap, v.whole = snapshotOf(list), len(list) == base.Len()
		if v.whole {
			v.snap = base
		}
		return Update{List: v.snap, Reset: true}, true
	}
	if v.whole {
		if u, ok, whole := v.advanceWhole(base, changed, &tally); whole {
			return u, ok
		}
		// base has an instance the filter drops: from here v.snap is the
		// view's own, even if nothing it shows changes now.
		v.whole = false
	}
	var seen map[string]bool
	if len(changed) > 1 {
		seen = make(map[string]bool, len(changed))
	}
	var puts, removed []Instance
	var dels []string
	for _, a := range changed {
		if seen != nil {
			if seen[a] {
				continue
			}
			seen[a] = true
		}
		in, ok := base.Get(a)
		old, had := v.snap.Get(a)
		switch {
		case ok && v.filter.check(in, &tally):
			if !had || !sameInstance(old, in) {
				puts = append(puts, in)
			}
		case had:
			dels = append(dels, a)
			removed = append(removed, old)
		}
	}
	if len(puts) == 0 && len(dels) == 0 {
		return Update{}, false
	}
	v.snap = v.snap.with(puts, dels)
	return Update{List: v.snap, Upserted: puts, Removed: removed}, true
}

// advanceWhole moves a view that shares its base to the next base, if the
// filter keeps every changed instance; whole is false when it does not and
// the view needs a snapshot of its own.
func (v *view) advanceWhole(base *Snapshot, changed []string, tally *panicTally) (u Update, ok, whole bool) {
	for _, a := range changed {
		if in, ok := base.Get(a); ok && !v.filter.check(in, tally) {
			return Update{}, false, false
		}
	}
	var seen map[string]bool
	if len(changed) > 1 {
		seen = make(map[string]bool, len(changed))
	}
	for _, a := range changed {
		if seen != nil {
			if seen[a] {
				continue
			}
			seen[a] = true
		}
		in, ok := base.Get(a)
		old, had := v.snap.Get(a)
		switch {
		case ok && (!had || !sameInstance(old, in)):
			u.Upserted = append(u.Upserted, in)
		case !ok && had:
			u.Removed = append(u.Removed, old)
		}
	}
	v.snap = base
	if len(u.Upserted) == 0 && len(u.Removed) == 0 {
		return Update{}, false, true
	}
	u.List = base
	return u, true, true
}
