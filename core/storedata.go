package core

import (
	"fmt"
	"log/slog"
	"slices"
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
// this is decided for every backend: check for full lists, keep for one
// instance (a change). Each bad entry is logged once while it stays in the
// store, not at every change.
type listChecker struct {
	log    *slog.Logger    // with the service
	warned map[string]bool // bad addresses already logged
}

// check returns list without its invalid entries. The driver's slice is
// left alone; a new one is made only when something is dropped.
func (c *listChecker) check(service string, list []Instance) []Instance {
	var out []Instance
	bad := map[string]bool{}
	for i, in := range list {
		if c.keep(service, in) {
			if out != nil {
				out = append(out, in)
			}
			continue
		}
		bad[in.Addr] = true
		if out == nil {
			out = append(make([]Instance, 0, len(list)-1), list[:i]...)
		}
	}
	// Forget the bad entries that left the store, so one written again is
	// logged again.
	for addr := range c.warned {
		if !bad[addr] {
			delete(c.warned, addr)
		}
	}
	if out == nil {
		return list
	}
	return out
}

// keep reports whether in may be listed, logging it the first time it may
// not.
func (c *listChecker) keep(service string, in Instance) bool {
	err := in.Validate()
	if err == nil && in.Service != service {
		err = fmt.Errorf("%w: the driver listed it under service %s", ErrInvalid, Bounded(in.Service))
	}
	if err == nil {
		return true
	}
	if !c.warned[in.Addr] {
		if c.warned == nil {
			c.warned = map[string]bool{}
		}
		c.warned[in.Addr] = true
		c.log.Warn("discovery: skipping a record that is not a valid instance", "addr", StoreData(in.Addr), "err", err)
	}
	return false
}

// checkChange is check for a DeltaWatcher's change: an invalid put is left
// out and its address deleted, as a full list without it would have it.
func (c *listChecker) checkChange(service string, ch Change) Change {
	for _, a := range ch.Deleted {
		delete(c.warned, a) // left the store: log it again if it comes back
	}
	var bad []string
	for _, in := range ch.Put {
		if !c.keep(service, in) {
			bad = append(bad, in.Addr)
		}
	}
	if bad == nil {
		return ch
	}
	puts := make([]Instance, 0, len(ch.Put)-len(bad))
	for _, in := range ch.Put {
		if !slices.Contains(bad, in.Addr) {
			puts = append(puts, in)
		}
	}
	return Change{Put: puts, Deleted: append(slices.Clip(ch.Deleted), bad...)}
}
