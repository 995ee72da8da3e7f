//go:build consul

package discovery

// The Consul backend, compiled in with -tags consul.
import _ "github.com/seedforge/discovery/backend/consul"
