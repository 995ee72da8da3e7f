package selector

import (
	"context"
	"fmt"

	"github.com/seedforge/discovery/core"
)

// Follow keeps s updated with the lists of service from d until ctx ends or
// d is closed. It returns once s holds the first list (bounded by ctx), so
// that Select works as soon as Follow returns:
//
//	sel := selector.NewP2C()
//	if err := selector.Follow(ctx, client, "Arith", sel); err != nil { … }
//	err = selector.Call(ctx, sel, selector.CallOptions{Mode: selector.Failover}, call)
//
// Follow takes what changed from d (core.Discovery.WatchChanges): a selector
// that is Incremental gets each change through Apply, so one instance joining
// a service of 10,000 costs that instance; any other gets the new list.
func Follow(ctx context.Context, d core.Discovery, service string, s Selector, opts ...core.WatchOption) error {
	ch, err := d.WatchChanges(ctx, service, opts...)
	if err != nil {
		return err
	}
	select {
	case u, ok := <-ch:
		if !ok {
			return fmt.Errorf("selector: watch of %s ended before its first list: %w", service, context.Cause(ctx))
		}
		apply(s, u)
	case <-ctx.Done():
		return fmt.Errorf("selector: no list of %s yet: %w", service, ctx.Err())
	}
	go func() {
		for u := range ch {
			apply(s, u)
		}
	}()
	return nil
}

// apply hands one Update to s: the change to an Incremental selector, the
// whole list (shared, read-only) otherwise and on a Reset.
func apply(s Selector, u core.Update) {
	if inc, ok := s.(Incremental); ok && !u.Reset {
		inc.Apply(u.Upserted, u.Removed)
		return
	}
	s.Update(u.List.Slice())
}
