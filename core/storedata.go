package core

import (
	"fmt"
	"log/slog"
	"strconv"
)

// MaxLogged bounds how many bytes of a key or value read from a store a log
// line or an error shows: a store may hold anything, megabytes included.
const MaxLogged = 256

// Bounded renders s, a key or value read from a store (or anything a user
// gave), for an error: quoted with Go escapes, so control characters and
// bytes that are not UTF-8 show as escapes, and cut to its first MaxLogged
// bytes with its full length said. Log lines use StoreData.
func Bounded(s string) string { return StoreData(s).String() }

// StoreData is a key or value read from a store, bounded wherever it is
// printed: in an error (%s, %v) as Bounded says, in a log line (slog) cut
// the same way and left to the handler to quote. Every backend logs store
// data through it.
type StoreData string

func (s StoreData) String() string {
	if len(s) <= MaxLogged {
		return strconv.Quote(string(s))
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(string(s[:MaxLogged])), len(s))
}

// LogValue implements slog.LogValuer.
func (s StoreData) LogValue() slog.Value {
	if len(s) <= MaxLogged {
		return slog.StringValue(string(s))
	}
	return slog.StringValue(fmt.Sprintf("%s… (%d bytes)", string(s[:MaxLogged]), len(s)))
}

// listChecker keeps out of the lists a driver returns the entries that
// Register refuses (Instance.Validate: an address that is not
// network@host:port, bytes that are not UTF-8, …), so a bad key written into
// the store by another tool never reaches a selector. It is the one place
// this is decided for every backend. Each bad entry is logged once while it
// stays in the lists of one watch, not at every change.
type listChecker struct {
	log    *slog.Logger    // with the service
	warned map[string]bool // the bad addresses of the last list
}

// check returns list without its invalid entries, reusing list's array.
func (c *listChecker) check(service string, list []Instance) []Instance {
	var bad map[string]bool
	out := list[:0]
	for _, in := range list {
		err := in.Validate()
		if err == nil && in.Service != service {
			err = fmt.Errorf("%w: the driver listed it under service %s", ErrInvalid, Bounded(in.Service))
		}
		if err == nil {
			out = append(out, in)
			continue
		}
		if bad == nil {
			bad = map[string]bool{}
		}
		bad[in.Addr] = true
		if !c.warned[in.Addr] {
			c.log.Warn("discovery: skipping a record that is not a valid instance", "addr", StoreData(in.Addr), "err", err)
		}
	}
	clear(list[len(out):]) // no stale copies behind the slice's length
	c.warned = bad
	return out
}
