package core

import (
	"context"
	"fmt"
	"time"
)

// Operator drain: an operator takes an instance out of rotation from
// outside its server (discovery drain, the dashboard's button). The
// override lives in the instance's record itself, so it works on every
// backend that stores records: the record gets state=inactive and the
// marker drain=operator. Clients drop inactive instances at once (filter).
// The owning server's registration keeps the override across its own
// writes: before each Put (a metadata or load change, a lost record, a
// re-registration) it learns the stored record and adopts the marker, and
// remembers it while the record is missing; a stored record without the
// marker (undrain) ends it. The record is read before the Put, or, through
// a ConditionalPutter, compared in the Put's own round trip.
const (
	MetaDrain     = "drain"
	DrainOperator = "operator"
)

// SetDrained writes the record of service at addr as drained (state
// inactive, drain=operator) or not, through d, with ttl as the record's
// life until its server writes it again. The record must exist:
// ErrNotFound otherwise. Undraining removes both keys.
func SetDrained(ctx context.Context, d Driver, service, addr string, ttl time.Duration, drained bool) error {
	if err := (Instance{Service: service, Addr: addr}).Validate(); err != nil {
		return err
	}
	stored, ok, err := storedRecord(ctx, d, service, addr)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("drain %s %s: %w: no such instance in the registry", service, addr, ErrNotFound)
	}
	stored.Meta = withDrain(stored.Meta, drained)
	if err := d.Put(ctx, stored, ttl); err != nil {
		return fmt.Errorf("drain %s %s: %w", service, addr, err)
	}
	return nil
}

// RecordReader is implemented by drivers that read one record without
// listing its service. Core reads a registration's stored record before
// each of its Puts; through List, n servers of one service registering at
// once would read n records each (n² reads: 2,000 etcd registrations took
// minutes under -race).
type RecordReader interface {
	// ReadRecord returns the record of service at addr, false when the store
	// holds none (or none that reads as an instance).
	ReadRecord(ctx context.Context, service, addr string) (Instance, bool, error)
}

// storedRecord reads the record of service at addr from the store.
func storedRecord(ctx context.Context, d Driver, service, addr string) (Instance, bool, error) {
	if r, ok := d.(RecordReader); ok {
		in, found, err := r.ReadRecord(ctx, service, addr)
		if err != nil {
			return Instance{}, false, fmt.Errorf("read %s %s: %w", service, addr, err)
		}
		return in, found, nil
	}
	list, err := d.List(ctx, service)
	if err != nil {
		return Instance{}, false, fmt.Errorf("list %s: %w", service, err)
	}
	for _, in := range list {
		if in.Addr == addr {
			return in, true, nil
		}
	}
	return Instance{}, false, nil
}

// withDrain returns a copy of m with the operator's override set or removed.
func withDrain(m Metadata, drained bool) Metadata {
	m = m.Clone()
	if drained {
		m[MetaState], m[MetaDrain] = StateInactive, DrainOperator
	} else if m[MetaDrain] == DrainOperator {
		delete(m, MetaState)
		delete(m, MetaDrain)
	}
	return m
}

// ConditionalPutter is implemented by drivers that can make the read before
// a registration's Put and the Put itself one round trip. PutIf writes inst
// only if the stored record is exactly prev (no record when prev is nil);
// otherwise it writes nothing and returns the stored record (found false:
// none, or none that reads as an instance), which core adopts before it
// writes again.
type ConditionalPutter interface {
	PutIf(ctx context.Context, inst Instance, ttl time.Duration, prev *Instance) (stored Instance, found, written bool, err error)
}

// conditionalTries bounds the compare-and-write attempts of one write; a
// record that changes under every attempt is then read and written as by a
// driver without PutIf.
const conditionalTries = 3

// putKeepingDrain is the registration's one write of its record, with the
// operator's override kept. Through a ConditionalPutter it is one round
// trip when the record is as this registration last wrote it (or absent
// before its first write), which is nearly always; otherwise the stored
// record comes back, is adopted, and the write is tried against it.
func (g *registration) putKeepingDrain(ctx context.Context, inst Instance) error {
	ttl := g.r.o.TTL
	cp, ok := g.r.d.(ConditionalPutter)
	if !ok {
		return g.r.d.Put(ctx, g.keepOperatorDrain(ctx, inst), ttl)
	}
	prev := g.lastPut
	for range conditionalTries {
		want := g.applyDrain(inst)
		stored, found, written, err := cp.PutIf(ctx, want, ttl, prev)
		if err != nil {
			return err
		}
		if written {
			want.Meta = want.Meta.Clone()
			g.lastPut = &want
			return nil
		}
		g.adoptDrain(stored, found)
		prev = nil
		if found {
			prev = &stored
		}
	}
	g.lastPut = nil
	return g.r.d.Put(ctx, g.keepOperatorDrain(ctx, inst), ttl)
}

// keepOperatorDrain reads the stored record, learns whether an operator
// drained it (or undrained it), and returns inst with the override applied.
// A failed read keeps what was known: the Put goes on.
func (g *registration) keepOperatorDrain(ctx context.Context, inst Instance) Instance {
	stored, ok, err := storedRecord(ctx, g.r.d, inst.Service, inst.Addr)
	if err == nil {
		g.adoptDrain(stored, ok)
	}
	return g.applyDrain(inst)
}

// adoptDrain learns the override from the stored record: drained if it
// carries the marker, undrained if it exists without it; a missing record
// (lost) keeps what was known.
func (g *registration) adoptDrain(stored Instance, found bool) {
	if !found {
		return
	}
	g.state.mu.Lock()
	g.state.drained = stored.Meta[MetaDrain] == DrainOperator
	g.state.mu.Unlock()
}

// applyDrain returns inst with the override applied, if an operator drained it.
func (g *registration) applyDrain(inst Instance) Instance {
	g.state.mu.Lock()
	drained := g.state.drained
	g.state.mu.Unlock()
	if drained {
		inst.Meta = withDrain(inst.Meta, true)
	}
	return inst
}
