package core

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
)

// ErrUnsupported is returned when the backend has no way to do what was
// asked (enumerating services on a store that only answers by name). The
// error wrapping it says why.
var ErrUnsupported = errors.New("discovery: not supported by this backend")

// AnyService is the one name a ServiceLister reports when its driver serves
// the same list under every service name (p2p, multi): there is nothing to
// enumerate, and "*" says so without inventing names.
const AnyService = "*"

// ServiceLister is the optional driver capability behind Discovery.Services,
// discovered by type assertion as database/sql does for its optional
// interfaces. Drivers whose store cannot enumerate services do not implement
// it, or return an error wrapping ErrUnsupported that says why.
type ServiceLister interface {
	// Services returns the names of the services that hold records, in any
	// order. A name whose records are all gone may still be listed (an empty
	// directory left behind); core counts every name and drops empty ones.
	Services(ctx context.Context) ([]string, error)
}

// ServiceCount is one service and how many instances clients are given.
type ServiceCount struct {
	Service   string `json:"service"`
	Instances int    `json:"instances"`
}

// maxParallelCounts bounds the List calls one Services call has in flight.
const maxParallelCounts = 16

// Services lists every service of the store with its instance count after
// the filters (inactive instances and the default group/version left out, as
// Instances does). A service whose records are all filtered out is listed
// with 0; one with no record at all is not listed.
func (d *discovery) Services(ctx context.Context, opts ...WatchOption) ([]ServiceCount, error) {
	names, skipped, err := listServices(ctx, d.d)
	if err != nil {
		return nil, err
	}
	if len(skipped) > 0 {
		// Store data: log a bounded sample, not whatever the store holds.
		var sample []string
		for _, n := range skipped[:min(len(skipped), 5)] {
			if len(n) > 64 {
				n = n[:64] + "…"
			}
			sample = append(sample, n)
		}
		d.o.Logger.Warn("discovery: skipping store entries that are not valid service names", "count", len(skipped), "first", sample)
	}
	f := newFilterSet(d.o, opts)
	out := make([]ServiceCount, len(names))
	keep := make([]bool, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, maxParallelCounts)
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			list, err := d.rawList(ctx, name)
			if err != nil {
				errs[i] = err
				return
			}
			out[i] = ServiceCount{Service: name, Instances: len(f.apply(list, d.o.Logger.With("service", name)))}
			keep[i] = len(list) > 0
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	kept := out[:0]
	for i, sc := range out {
		if keep[i] {
			kept = append(kept, sc)
		}
	}
	return kept, nil
}

// listServices asks the driver's ServiceLister for the names, sorted and
// without duplicates; names core could not query are returned apart.
func listServices(ctx context.Context, drv Driver) (names, skipped []string, err error) {
	l, ok := drv.(ServiceLister)
	if !ok {
		return nil, nil, fmt.Errorf("%w: the %T driver cannot enumerate services; name one", ErrUnsupported, drv)
	}
	all, err := l.Services(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list services: %w", err)
	}
	slices.Sort(all)
	for _, n := range slices.Compact(all) {
		if n == AnyService || validateService(drv, n) == nil {
			names = append(names, n)
		} else {
			skipped = append(skipped, n)
		}
	}
	return names, skipped, nil
}

// rawList is the unfiltered list of service, sorted by address: the watched
// one when a watch runs, otherwise one read of the store.
func (d *discovery) rawList(ctx context.Context, service string) ([]Instance, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, ErrClosed
	}
	sw := d.services[service]
	d.mu.Unlock()
	if sw != nil {
		if base, known := sw.current(); known {
			return base.Slice(), nil
		}
	}
	list, err := d.d.List(ctx, service)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", service, err)
	}
	list = (&listChecker{log: d.o.Logger.With("service", service)}).check(service, list)
	return uniqueByAddr(list), nil
}

// Unsupportedf builds an ErrUnsupported error for drivers that implement
// ServiceLister but cannot serve it in their current mode.
func Unsupportedf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, strings.TrimSpace(fmt.Sprintf(format, args...)))
}

// ServiceNamesFromKeys returns the distinct services of keys laid out as
// root+"{service}/{address}", for the drivers of key-value stores; keys
// that have no address element are not instances and are passed over.
func ServiceNamesFromKeys(root string, keys iter.Seq[string]) []string {
	seen := map[string]bool{}
	var out []string
	for k := range keys {
		rest, ok := strings.CutPrefix(k, root)
		service, addr, hasAddr := strings.Cut(rest, "/")
		if !ok || !hasAddr || addr == "" || seen[service] {
			continue
		}
		seen[service] = true
		out = append(out, service)
	}
	return out
}
