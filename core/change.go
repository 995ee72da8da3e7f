package core

import "context"

// Change is what changed in one service's list: instances written (new, or
// with new metadata) and addresses deleted. A DeltaWatcher returns it, and
// core applies it to its snapshot of the service, so that a change costs
// what changed and not the size of the service.
type Change struct {
	Put     []Instance
	Deleted []string // addresses
}

// DeltaWatcher is a Watcher of a store that says what changed (etcd events,
// ZooKeeper child and data events, an in-memory store). Core finds it by
// type assertion, as database/sql finds optional driver interfaces: the
// first call is Next, which returns the full list; every later call is
// NextChange. Drivers that only have full lists implement Watcher alone.
type DeltaWatcher interface {
	Watcher
	// NextChange blocks until the list changed and returns what changed
	// since the list or change returned before. A Put of an unchanged
	// instance and a Delete of an unknown address are harmless. Errors are
	// handled as Next's: core closes the watcher, backs off and opens a
	// new one, whose Next reads the full list again.
	NextChange(ctx context.Context) (Change, error)
}

// Update is one step of a WatchChanges stream: the filtered list after the
// change, and what changed since the previous Update the reader received.
// Everything in it is shared with other subscribers: read-only.
type Update struct {
	// List is the whole filtered list, sorted by address.
	List *Snapshot
	// Reset is true on the first Update: build your state from List.
	// Upserted and Removed are then empty.
	Reset bool
	// Upserted holds instances that are new, or whose metadata changed.
	Upserted []Instance
	// Removed holds the last known value of instances that left the list
	// (deleted, or no longer passing the filters).
	Removed []Instance
}
