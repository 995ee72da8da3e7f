package core

// WatchOption narrows what a Watch or Instances call returns. Filters apply to
// every list a subscriber receives, the first one included.
type WatchOption func(*filterSet)

// WithGroup keeps instances whose "group" metadata equals g.
func WithGroup(g string) WatchOption { return func(f *filterSet) { f.group = g } }

// WithVersion keeps instances whose "version" metadata equals v.
func WithVersion(v string) WatchOption { return func(f *filterSet) { f.version = v } }

// WithFilter keeps instances for which keep returns true. It may be given
// several times; an instance must pass all of them.
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

// apply returns the kept instances in a new slice (never nil).
func (f *filterSet) apply(list []Instance) []Instance {
	out := make([]Instance, 0, len(list))
	for _, i := range list {
		if f.keep(i) {
			out = append(out, i)
		}
	}
	return out
}
