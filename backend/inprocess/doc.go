// Package inprocess is an in-memory registry with the semantics of the real
// ones: records expire after their TTL unless kept alive, watches report every
// change including metadata. Drivers opened with the same name share one
// Store, so servers and clients in one process (or one test) meet there.
//
// URL form: inprocess://NAME
package inprocess
