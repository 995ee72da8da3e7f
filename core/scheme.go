package core

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Opener builds a Driver from a URL such as etcd://h1:2379,h2:2379/services.
// It reads its own query parameters through p; parameters nobody read are
// reported to the user as errors by the caller. ctx bounds whatever the
// opener waits for (dialling, logging in); it does not bound the driver's life.
type Opener func(ctx context.Context, t Target, p *Params) (Driver, error)

// Backend describes a registered scheme.
type Backend struct {
	Scheme string
	Open   Opener
	// SecretUser marks schemes whose URL user name is a secret (a token), so
	// redaction hides it too; passwords are always hidden.
	SecretUser bool
	// ProcessLocal marks schemes whose records no other process can read:
	// a fixed list (p2p, multi) or a store inside this process (inprocess).
	// Tools such as the CLI refuse to "register" there.
	ProcessLocal bool
	// AddressList marks schemes whose authority is a list of rpcx addresses
	// (multi://tcp@h1:1,tcp@h2:2): an '@' there is no user information.
	AddressList bool
	// Options names the query options Open reads, besides the policy
	// options every backend shares (TLSOptions included when it calls
	// Params.TLS). When set, an unknown option is reported before Open runs,
	// so a misspelt option is named as such instead of surfacing as the
	// error its absence causes. Reading an undeclared option fails the open.
	Options []string
	// SecretOptions are the Options whose values are secrets: redaction
	// hides them. Values of the other declared options are shown in errors
	// and logs; values of undeclared ones never are.
	SecretOptions []string
}

var (
	backendsMu sync.RWMutex
	backends   = map[string]Backend{}
)

// RegisterBackend makes a scheme available to discovery.Open. Backends call
// it from init; registering a scheme twice panics, as database/sql does.
func RegisterBackend(b Backend) {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	if b.Open == nil || b.Scheme == "" {
		panic("discovery: RegisterBackend needs a scheme and an Opener")
	}
	if _, dup := backends[b.Scheme]; dup {
		panic("discovery: RegisterBackend called twice for scheme " + b.Scheme)
	}
	backends[b.Scheme] = b
}

// LookupBackend returns the backend registered for scheme.
func LookupBackend(scheme string) (Backend, bool) {
	backendsMu.RLock()
	defer backendsMu.RUnlock()
	b, ok := backends[scheme]
	return b, ok
}

// Schemes lists the registered schemes, sorted.
func Schemes() []string {
	backendsMu.RLock()
	defer backendsMu.RUnlock()
	var s []string
	for k := range backends {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}

// errorf builds an ErrInvalid error.
func errorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}
