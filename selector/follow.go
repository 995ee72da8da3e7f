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
func Follow(ctx context.Context, d core.Discovery, service string, s Selector, opts ...core.WatchOption) error {
	ch, err := d.Watch(ctx, service, opts...)
	if err != nil {
		return err
	}
	select {
	case list, ok := <-ch:
		if !ok {
			return fmt.Errorf("selector: watch of %s ended before its first list: %w", service, context.Cause(ctx))
		}
		s.Update(list)
	case <-ctx.Done():
		return fmt.Errorf("selector: no list of %s yet: %w", service, ctx.Err())
	}
	go func() {
		for list := range ch {
			s.Update(list)
		}
	}()
	return nil
}
