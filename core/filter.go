package core

import (
	"fmt"
	"log/slog"
)

// WatchOption narrows what a Watch or Instances call returns. Filters apply to
// every list a subscriber receives, the first one included.
type WatchOption func(*filterSet)

// WithGroup keeps instances whose "group" metadata equals g.
func WithGroup(g string) WatchOption { return func(f *filterSet) { f.group = g } }

// WithVersion keeps instances whose "version" metadata equals v.
func WithVersion(v string) WatchOption { return func(f *filterSet) { f.version = v } }

// WithFilter keeps instances for which keep returns true. It may be given
// several times; an instance must pass all of them.
//
// keep runs on a goroutine of its subscriber, never in the shared watch: a
// keep that blocks delays only the lists of its own Watch (which then gets
// the newest list once keep returns), and a keep that panics is recovered,
// logged, and its instance dropped, as if keep had returned false.
func WithFilter(keep func(Instance) bool) WatchOption {
	return func(f *filterSet) { f.custom = append(f.custom, keep) }
}

// IncludeInactive keeps instances whose state is "inactive", which are
// otherwise dropped.
func IncludeInactive() WatchOption { return func(f *filterSet) { f.inactive = true } }

type filterSet struct {
	group, version string
	inactive       bool
	custom         []func(Instance) bool
}

func newFilterSet(o Options, opts []WatchOption) *filterSet {
	f := &filterSet{group: o.Group, version: o.Version}
	for _, opt := range opts {
		opt(f)
	}
	return f
}

func (f *filterSet) keep(i Instance) bool {
	if !f.inactive && i.Meta.Inactive() {
		return false
	}
	if f.group != "" && i.Meta[MetaGroup] != f.group {
		return false
	}
	if f.version != "" && i.Meta[MetaVersion] != f.version {
		return false
	}
	for _, keep := range f.custom {
		if !keep(i) {
			return false
		}
	}
	return true
}

// panicTally counts the instances a user filter panicked on while one
// list was filtered, so that one log line reports them all.
type panicTally struct {
	n     int
	first any
	addr  string
}

func (t *panicTally) report(log *slog.Logger) {
	if t.n > 0 {
		log.Error("discovery: a WithFilter function panicked; its instances are dropped",
			"instances_dropped", t.n, "first_addr", t.addr, "panic", bounded(fmt.Sprint(t.first)))
	}
}

// check is keep with a user filter's panic turned into "drop", counted in t.
func (f *filterSet) check(i Instance, t *panicTally) (kept bool) {
	if len(f.custom) == 0 { // core's own filters cannot panic: no recover cost
		return f.keep(i)
	}
	defer func() {
		if p := recover(); p != nil {
			if t.n == 0 {
				t.first, t.addr = p, i.Addr
			}
			t.n++
			kept = false
		}
	}()
	return f.keep(i)
}

// apply returns the kept instances in a new slice (never nil).
func (f *filterSet) apply(list []Instance, log *slog.Logger) []Instance {
	var tally panicTally
	defer tally.report(log)
	out := make([]Instance, 0, len(list))
	for _, i := range list {
		if f.check(i, &tally) {
			out = append(out, i)
		}
	}
	return out
}

// viewKey identifies the filters of core's own that subscribers can share
// a view by; ok is false with user filters, which cannot be compared.
func (f *filterSet) viewKey() (key filterKey, ok bool) {
	return filterKey{f.group, f.version, f.inactive}, len(f.custom) == 0
}

type filterKey struct {
	group, version string
	inactive       bool
}

// bounded cuts s to a size fit for one log line.
func bounded(s string) string {
	const max = 256
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
