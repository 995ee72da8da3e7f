//go:build mdns && linux

package mdns

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/seedforge/discovery/core"
)

// checkMulticastRoute asks the kernel, without sending anything, whether a
// query to 224.0.0.251 can leave through iface (nil: the default): the
// route lookup of a UDP connect with IP_MULTICAST_IF set, as every query of
// the library would do it. Without a route each browse fails with "sendto:
// network is unreachable" and the watch retries it forever; this says once,
// at Open, what is wrong.
func checkMulticastRoute(iface *net.Interface) error {
	// The library queries over IPv4 and IPv6 and fails when either send
	// fails, so both need a route.
	for _, group := range []struct{ network, addr, route string }{
		{"udp4", "224.0.0.251:5353", "224.0.0.0/4"},
		{"udp6", "[ff02::fb]:5353", "multicast ff00::/8"},
	} {
		err := dialMulticast(iface, group.network, group.addr)
		if !errors.Is(err, syscall.ENETUNREACH) {
			continue // reachable, or not a routing verdict: the browse reports it
		}
		where, dev := "this host", "eth0"
		if iface != nil {
			where, dev = "interface "+iface.Name, iface.Name
		}
		fix := "ip route add " + group.route + " dev " + dev
		if group.network == "udp6" {
			fix = "ip -6 route add " + group.route + " dev " + dev + " table local"
		}
		return fmt.Errorf("%w: mdns: %s has no route for multicast to %s (network is unreachable), so no query can be sent; add one (%s) or name another interface with ?interface=NAME (known: %s)",
			core.ErrInvalid, where, group.addr, fix, interfaceNames())
	}
	return nil
}

// dialMulticast connects a UDP socket to addr with the multicast interface
// set, which makes the kernel look the route up and send nothing.
func dialMulticast(iface *net.Interface, network, addr string) error {
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		if iface == nil {
			return nil
		}
		var serr error
		err := c.Control(func(fd uintptr) {
			if network == "udp4" {
				serr = syscall.SetsockoptIPMreqn(int(fd), syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF, &syscall.IPMreqn{Ifindex: int32(iface.Index)})
			} else {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_MULTICAST_IF, iface.Index)
			}
		})
		return errors.Join(err, serr)
	}}
	c, err := d.Dial(network, addr)
	if err == nil {
		c.Close()
	}
	return err
}
