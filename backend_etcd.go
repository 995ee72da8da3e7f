//go:build etcd

package discovery

// The etcd backend, compiled in with -tags etcd.
import _ "github.com/seedforge/discovery/backend/etcd"
