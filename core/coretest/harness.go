// Package coretest is the conformance suite every backend runs from its own
// tests: coretest.Run(t, coretest.Harness{...}). It drives the backend only
// through core's Registrar and Discovery, the way users do, so it checks the
// driver together with the policies core puts on top of it.
package coretest

import (
	"testing"
	"time"

	"github.com/seedforge/discovery/core"
)

// Harness tells the suite how to reach the backend under test.
type Harness struct {
	// NewDriver opens a new client of the registry under test, as a separate
	// process would. The suite closes what it opens.
	NewDriver func(t testing.TB) core.Driver
	// TTL is the record TTL the suite registers with: the shortest the
	// backend honours (inprocess 300ms, etcd 2s, consul 10s…). Refreshes run
	// at TTL/3. Zero means the backend has no registration (p2p, multi).
	TTL time.Duration
	// Remove deletes a record behind its owner's back. Nil skips that test.
	Remove func(t testing.TB, inst core.Instance)
	// Crash makes a driver's records be left behind without deregistering,
	// as if its process had died. Nil means closing the driver, which by the
	// Driver contract deletes nothing.
	Crash func(t testing.TB, d core.Driver)

	// Static is the fixed list of a backend without registration, and
	// Update, when not nil, replaces it at run time (multi).
	Static []core.Instance
	Update func(t testing.TB, d core.Driver, list []core.Instance)
	// UpdateAddr, when not nil, makes the addresses StaticUpdate publishes,
	// for stores that refuse loopback ones (Kubernetes EndpointSlices).
	UpdateAddr func(i int) string

	// Settle bounds how long a change may take to reach a watcher. An
	// eventually consistent backend (mDNS) sets it to a few browse
	// intervals. Default 10s; the suite polls and never sleeps for it.
	Settle time.Duration
	// Service names the service the tests use; each test appends a suffix.
	Service string
}

func (h Harness) settle() time.Duration {
	if h.Settle > 0 {
		return h.Settle
	}
	return 10 * time.Second
}

func (h Harness) updateAddr(i int) string {
	if h.UpdateAddr != nil {
		return h.UpdateAddr(i)
	}
	return addr(i)
}

func (h Harness) service(t testing.TB) string {
	base := h.Service
	if base == "" {
		base = "conformance"
	}
	return base + "-" + sanitize(t.Name())
}

func (h Harness) options() core.Options {
	o := core.Options{BackoffBase: 20 * time.Millisecond, BackoffCap: time.Second}
	if h.TTL > 0 {
		o.TTL = h.TTL
	}
	return o
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}
