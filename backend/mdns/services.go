//go:build mdns

package mdns

import (
	"context"

	"github.com/seedforge/discovery/core"
)

// Services is not possible with hashicorp/mdns: its client hands out only
// complete instances (address, port and TXT), never the bare PTR answers a
// DNS-SD service enumeration (_services._dns-sd._udp) is made of.
func (d *driver) Services(context.Context) ([]string, error) {
	return nil, core.Unsupportedf("mdns: enumerating services needs DNS-SD service enumeration, which the hashicorp/mdns client cannot browse; name the service, e.g. discovery list mdns://local Arith")
}
