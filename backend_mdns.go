//go:build mdns

package discovery

// The mDNS backend, compiled in with -tags mdns.
import _ "github.com/seedforge/discovery/backend/mdns"
