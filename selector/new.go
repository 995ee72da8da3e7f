package selector

import (
	"fmt"
	"strings"
)

// Option configures New.
type Option func(*config)

type config struct {
	lat, lon float64
	located  bool
}

// WithLocation gives the client's latitude and longitude in degrees, which
// the "closest" selector needs. Other selectors ignore it.
func WithLocation(lat, lon float64) Option {
	return func(c *config) { c.lat, c.lon, c.located = lat, lon, true }
}

// names in the order error messages list them.
var names = []string{"random", "roundrobin", "weighted", "consistenthash", "p2c", "leasttps", "closest"}

// New returns the selector called name (case-insensitive): "random",
// "roundrobin", "weighted", "consistenthash", "p2c", "leasttps" or "closest",
// so that the choice can come from configuration.
func New(name string, opts ...Option) (Selector, error) {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "random":
		return NewRandom(), nil
	case "roundrobin":
		return NewRoundRobin(), nil
	case "weighted":
		return NewWeightedRoundRobin(), nil
	case "consistenthash":
		return NewConsistentHash(), nil
	case "p2c":
		return NewP2C(), nil
	case "leasttps":
		return NewLeastTPS(), nil
	case "closest":
		if !c.located {
			return nil, fmt.Errorf("selector: %q needs the client's location: pass selector.WithLocation(lat, lon)", "closest")
		}
		return NewClosest(c.lat, c.lon)
	}
	return nil, fmt.Errorf("selector: unknown selector %q: use one of %s", name, strings.Join(names, ", "))
}
