package discovery

import (
	// The light backends are always compiled in.
	_ "github.com/seedforge/discovery/backend/inprocess"
	_ "github.com/seedforge/discovery/backend/multi"
	_ "github.com/seedforge/discovery/backend/p2p"
)

// compiledOut maps the schemes of the heavy backends to the build tag that
// compiles them in (files backend_<tag>.go import them under that tag).
var compiledOut = map[string]string{
	"etcd":   "etcd",
	"consul": "consul",
	"zk":     "zookeeper",
	"mdns":   "mdns",
	"k8s":    "kubernetes",
}
