// Package p2p is the backend for one fixed server: clients call it directly,
// servers need not register (Register is accepted and stores nothing).
//
// URL form: p2p://tcp@127.0.0.1:8972 (or p2p://unix@/tmp/s.sock).
package p2p
