//go:build mdns && !linux

package mdns

import "net"

// checkMulticastRoute is Linux-only; elsewhere the first browse reports a
// missing route.
func checkMulticastRoute(*net.Interface) error { return nil }
