package core

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"unicode/utf8"
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
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: service name %s is not UTF-8 text", ErrInvalid, Bounded(s))
	case strings.ContainsAny(s, "/ \t\n"):
		return fmt.Errorf("%w: service name %s must not contain '/' or white space", ErrInvalid, Bounded(s))
	}
	return nil
}

// ValidateAddr checks an address in rpcx form network@address: UTF-8 text;
// for unix sockets (unix, unixgram, unixpacket) the address is a path, for
// every other network host:port with a port from 1 to 65535 (the host may be
// empty, as in rpcx's "tcp@:8972").
func ValidateAddr(a string) error {
	if !utf8.ValidString(a) {
		return fmt.Errorf("%w: address %s is not UTF-8 text", ErrInvalid, Bounded(a))
	}
	network, rest, ok := strings.Cut(a, "@")
	if !ok || network == "" {
		return fmt.Errorf("%w: address %s has no network@ prefix; write it as tcp@host:port (or unix@/path)", ErrInvalid, Bounded(a))
	}
	if rest == "" {
		return fmt.Errorf("%w: address %s has nothing after %q; write it as %s@host:port", ErrInvalid, Bounded(a), network+"@", network)
	}
	for _, r := range network {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return fmt.Errorf("%w: address %s: network %s must be lower-case letters and digits such as tcp, tcp6, unix, quic", ErrInvalid, Bounded(a), Bounded(network))
		}
	}
	if strings.ContainsAny(rest, " \t\n") {
		return fmt.Errorf("%w: address %s must not contain white space", ErrInvalid, Bounded(a))
	}
	for _, r := range rest {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: address %s must not contain control characters", ErrInvalid, Bounded(a))
		}
	}
	switch network {
	case "unix", "unixgram", "unixpacket":
		return nil
	}
	_, port, err := net.SplitHostPort(rest)
	if err != nil {
		return fmt.Errorf("%w: address %s: %s is not host:port; write it as %s@host:port", ErrInvalid, Bounded(a), Bounded(rest), network)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || port[0] == '+' {
		return fmt.Errorf("%w: address %s: port %s must be a number from 1 to 65535", ErrInvalid, Bounded(a), Bounded(port))
	}
	return nil
}

// key identifies an instance record: one record per service and address.
func (i Instance) key() string { return i.Service + "\x00" + i.Addr }
