//go:build etcd

// Package etcd is the etcd v3 backend (go.etcd.io/etcd/client/v3), compiled
// in with the build tag etcd:
//
//	go build -tags etcd ./...
//	c, err := discovery.Open("etcd://user:pass@h1:2379,h2:2379/rpcx_test?ttl=10s")
//
// # URL
//
//	etcd://[user:pass@]host:port[,host:port…][/basePath][?option=value&…]
//
// Every host is given to the client, which balances and fails over between
// them. The path is the base path of every key; without one it is
// DefaultBasePath ("/services"). rpcx's own examples use "/rpcx_test": set the
// same base path as your rpcx servers and clients to share their registry.
// Options, besides the policy options every backend takes (ttl, interval…):
//
//	dial_timeout=5s                 bound on the connection and authentication New does (default 5s)
//	base_path=rpcx_noslash          the base path exactly as given, for one without a leading '/'
//	                                (a URL's path always has one); instead of the path
//	tls=true                        TLS with the system's roots (implied by any tls_* option)
//	tls_ca=/path/ca.pem             CA bundle that signs the servers' certificates
//	tls_cert=/path/client.pem       client certificate (with tls_key), for servers that ask for one
//	tls_key=/path/client-key.pem
//	tls_server_name=etcd.internal   name to verify in the servers' certificates
//	tls_insecure_skip_verify=true   do not verify the servers' certificates (tests only)
//
// In code, New(Config{…}) takes the same settings and a *tls.Config.
//
// # Data layout
//
// Identical to rpcx's etcd v3 registry (github.com/rpcxio/rpcx-etcd), so rpcx
// servers and clients and this package see each other's records:
//
//	key   {basePath}/{service}/{network@address}    e.g. /rpcx_test/Arith/tcp@10.0.0.1:8972
//	value the metadata as a URL query string        e.g. weight=2&group=blue
//
// The base path is used exactly as given (rpcx's keys start with '/' when its
// BasePath does). Keys under a service's prefix that are not an address, and
// values that are not a URL query string, are skipped with a warning.
//
// # Leases
//
// A driver attaches every key it writes to one lease, granted by the first Put
// with that Put's TTL and kept alive by one long-lived keep-alive stream. When
// the lease is lost (the keep-alive stream ends: lease revoked or expired,
// server unreachable for longer than the TTL) the next Put grants a new one.
// Put is also PutIf (core.ConditionalPutter): core's read of the stored
// record before a write, which keeps an operator's drain, and the write are
// one transaction.
//
// KeepAlive reports core.ErrNotFound when a key is missing or no longer
// attached to the driver's live lease, which makes core write it again. It
// learns that from one watch per service the driver registers in, not from a
// read per key: a process with 2,000 registrations makes a handful of
// requests per refresh interval, not 2,000 (see ownKeys). Close closes the
// connection without revoking: keys expire a TTL later.
//
// # Watches
//
// The service watches of a driver, and its watches on its own keys (see
// Leases), share one etcd Watch stream, as clientv3's do: a process costs the
// server one stream, plus one watcher per service.
// The driver speaks etcd's Watch RPC itself rather than through clientv3's
// watcher, so a response reaches core's watch loop after one goroutine
// hand-off instead of three (see watchMux). When the connection breaks, the
// stream is opened again, with jittered backoff, and every watch resumes from
// the revision after the last event it was given, without reading its list
// again. A lost leader or a compacted revision ends the watch instead, and
// core reads the list again. Watch IDs are chosen by the client, which needs
// etcd 3.4 or newer.
//
// The driver holds no policy: retries, backoff and the last known list during
// outages are core's.
package etcd
