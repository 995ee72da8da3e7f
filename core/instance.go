package core

import (
	"fmt"
	"strings"
)

// Instance is one endpoint of a service.
//
// Addr uses rpcx's form network@address, e.g. "tcp@10.0.0.1:8972" or
// "unix@/tmp/s.sock", so records stay wire-compatible with rpcx registries.
// Lists handed out by Discovery share Meta maps: treat them as read-only.
type Instance struct {
	Service string
	Addr    string
	Meta    Metadata
}

// Network returns the part of Addr before '@' ("tcp").
func (i Instance) Network() string {
	n, _, _ := strings.Cut(i.Addr, "@")
	return n
}

// HostPort returns the part of Addr after '@' ("10.0.0.1:8972").
func (i Instance) HostPort() string {
	_, a, _ := strings.Cut(i.Addr, "@")
	return a
}

// Validate reports bad input with an error that names the fix.
func (i Instance) Validate() error {
	if err := ValidateService(i.Service); err != nil {
		return err
	}
	return ValidateAddr(i.Addr)
}

// ValidateService checks a service name: non-empty, no '/', no spaces, since
// it becomes one path element of a key in every store.
func ValidateService(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: missing service name", ErrInvalid)
	case strings.ContainsAny(s, "/ \t\n"):
		return fmt.Errorf("%w: service name %q must not contain '/' or white space", ErrInvalid, s)
	}
	return nil
}

// ValidateAddr checks an address in rpcx form network@address.
func ValidateAddr(a string) error {
	network, rest, ok := strings.Cut(a, "@")
	if !ok || network == "" {
		return fmt.Errorf("%w: address %q has no network@ prefix; write it as tcp@host:port (or unix@/path)", ErrInvalid, a)
	}
	if rest == "" {
		return fmt.Errorf("%w: address %q has nothing after %q; write it as %s@host:port", ErrInvalid, a, network+"@", network)
	}
	for _, r := range network {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return fmt.Errorf("%w: address %q: network %q must be lower-case letters and digits such as tcp, tcp6, unix, quic", ErrInvalid, a, network)
		}
	}
	if strings.ContainsAny(rest, " \t\n") {
		return fmt.Errorf("%w: address %q must not contain white space", ErrInvalid, a)
	}
	return nil
}

// key identifies an instance record: one record per service and address.
func (i Instance) key() string { return i.Service + "\x00" + i.Addr }
