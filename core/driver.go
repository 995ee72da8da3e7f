package core

import (
	"context"
	"time"
)

// Driver is what a backend implements: a thin translation to its store.
// Drivers hold no policy: they do not retry, back off, cache, filter or select.
// Core calls them from several goroutines at once.
type Driver interface {
	// Put creates or replaces inst's record so that it lives for ttl unless
	// kept alive. Putting the same service and address again updates it.
	Put(ctx context.Context, inst Instance, ttl time.Duration) error
	// KeepAlive extends the life of inst's record by ttl without changing it.
	// It returns ErrNotFound (possibly wrapped) when the store no longer holds
	// the record, so that core writes it again.
	KeepAlive(ctx context.Context, inst Instance, ttl time.Duration) error
	// Delete removes inst's record; a missing record is not an error.
	Delete(ctx context.Context, inst Instance) error
	// List returns the instances of service in a slice the caller may keep
	// and reorder. An empty list is not an error.
	List(ctx context.Context, service string) ([]Instance, error)
	// Watch starts watching service. ctx bounds the watch's whole life.
	Watch(ctx context.Context, service string) (Watcher, error)
	// Close releases the driver's connections. Records with a lease or
	// session expire on their own afterwards; Close deletes nothing.
	Close() error
}

// Watcher yields full lists of one service.
type Watcher interface {
	// Next blocks until it can return a list that may differ from the last one
	// it returned; the first call returns the current list. It returns an
	// error when ctx ends or the watch broke; core then closes the Watcher,
	// backs off and opens a new one, keeping the last list meanwhile.
	// Next must report metadata changes, not only joins and leaves.
	Next(ctx context.Context) ([]Instance, error)
	// Close stops the watch and frees its resources.
	Close() error
}

// NameValidator is implemented by drivers whose store accepts fewer service
// names than core does (mDNS labels, for one). Core asks it before Register,
// Watch and Instances, so a name the store cannot hold fails at once with a
// clear error instead of being retried forever. Errors wrap ErrInvalid.
type NameValidator interface {
	ValidateService(service string) error
}

// InstanceValidator is implemented by drivers whose store limits records
// further than core does (mDNS's 255-byte TXT strings, for one). Register
// asks it before anything reaches the store, so such a record is refused at
// once, without the read before its first Put. Errors wrap ErrInvalid.
type InstanceValidator interface {
	ValidateInstance(inst Instance) error
}

// validateService applies core's rules and then the driver's own.
func validateService(d Driver, service string) error {
	if err := ValidateService(service); err != nil {
		return err
	}
	if v, ok := d.(NameValidator); ok {
		return v.ValidateService(service)
	}
	return nil
}

// LossNotifier is implemented by drivers that learn, between refreshes, that
// the store dropped the records they wrote (a ZooKeeper session expired and
// a new one replaced it). Core then writes every record again after a short
// jittered delay instead of waiting up to a refresh interval.
type LossNotifier interface {
	// OnLoss adds f to the functions the driver calls, without blocking and
	// from any goroutine, each time its records were lost.
	OnLoss(f func())
}
