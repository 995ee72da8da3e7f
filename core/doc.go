// Package core holds the contract of the discovery framework and every policy
// that sits on top of a store: the registration lifecycle (refresh, re-register
// with jittered backoff, deregister on Close), the TPS meter, the shared watch
// cache and filters.
//
// Backends implement the small Driver interface and nothing else; they never
// retry, cache or filter. Selection lives in package selector.
package core
