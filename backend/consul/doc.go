//go:build consul

// Package consul is the Consul backend (github.com/hashicorp/consul/api),
// compiled in with the build tag consul:
//
//	go build -tags consul ./...
//	c, err := discovery.Open("consul://127.0.0.1:8500")                   // catalog mode
//	c, err := discovery.Open("consul://TOKEN@127.0.0.1:8500/rpcx_test")   // rpcx's KV layout (mode=kv)
//
// # URL
//
//	consul://[token@]host:port[/basePath][?option=value&…]
//
// The host is the Consul agent to talk to, usually the local one; Consul
// clients talk to one agent, so one host only. The user part is the ACL
// token; it is a secret: it is never logged nor put in an error, and
// discovery.Open redacts it. Without a token the api client falls back to
// CONSUL_HTTP_TOKEN / CONSUL_HTTP_TOKEN_FILE, as every Consul tool does; no
// other environment variable is read. The path is the base path of the keys
// in mode=kv (rpcx's BasePath; default DefaultBasePath), and a path alone
// selects mode=kv: consul://127.0.0.1:8500/rpcx_test is rpcx's layout. It
// must be empty in mode=catalog. Options, besides the policy options every backend takes
// (ttl, interval…):
//
//	mode=catalog|kv                 where records live (default catalog, kv when the URL has a path; see below)
//	dc=dc2                          datacenter of the health and KV calls (default: the agent's; catalog
//	                                registrations always go to the agent's own datacenter)
//	wait=1m                         longest wait of one blocking query (default 1m, Consul caps it at 10m)
//	min_query_interval=100ms        least time between the starts of two queries of one watch (default 100ms)
//	deregister_critical_after=1m    catalog: the agent removes a service whose check stayed critical this long (default 1m, Consul's minimum)
//	tls=true                        https with the system's roots (implied by any tls_* option)
//	tls_ca=/path/ca.pem             CA bundle that signs the agent's certificate
//	tls_cert=/path/client.pem       client certificate (with tls_key), for agents with verify_incoming
//	tls_key=/path/client-key.pem
//	tls_server_name=consul.internal name to verify in the agent's certificate
//	tls_insecure_skip_verify=true   do not verify the agent's certificate (tests only)
//
// In code, New(Config{…}) takes the same settings and a *tls.Config.
//
// # mode=catalog (default)
//
// Each instance is an agent service, what Consul users expect in the UI,
// DNS and health API:
//
//	ID       ServiceID(service, addr): "{service}-{addr, sanitised}-{8 hex of a hash}"
//	Name     the service
//	Address  the host of the address, Port its port (tcp@10.0.0.1:8972 → 10.0.0.1, 8972)
//	Meta     the instance's metadata as is (rpcx's keys weight, group, tps… are
//	         valid Consul meta keys) plus MetaAddr ("rpcx_addr") holding the
//	         full rpcx address, so networks other than tcp survive
//	Check    a TTL check "service:{ID}" with the record's TTL, registered
//	         passing, and DeregisterCriticalServiceAfter
//
// Put registers the service with its check, then passes the check: a new
// check starts passing as registered, but the agent keeps the status of a
// check it already had (the service of a crashed process is critical until
// passed). KeepAlive passes the TTL check (constant output, so refreshes
// cost the catalog no write); when the agent does not know the check (agent restarted, service
// removed) KeepAlive returns core.ErrNotFound and core registers again.
// Delete deregisters. A process that dies stops passing its check: its
// instance leaves the passing set one TTL after its last refresh, and the
// agent removes the service DeregisterCriticalServiceAfter later (Consul
// clamps that to at least 1m and reaps every 30s).
//
// Consul limits service metadata: at most 64 pairs (so 63 of the instance's
// own, besides MetaAddr), keys of 1–128 characters from [A-Za-z0-9_-] not
// starting with "consul-", values of at most 512 bytes. Put rejects metadata
// beyond these limits with a core.ErrInvalid error naming the key; nothing is
// dropped or rewritten silently. Use mode=kv for metadata Consul's catalog
// cannot hold.
//
// Discovery reads /v1/health/service/{service}?passing as blocking queries.
// A service registered by other Consul tools, without MetaAddr, is read as
// tcp@Address:Port (the node's address when the service has none).
//
// # mode=kv
//
// rpcx's Consul registry layout (rpcx-consul, through rpcxio/libkv), so
// stock rpcx servers and clients see the same records:
//
//	key    {basePath}/{service}/{network@address}   e.g. rpcx_test/Arith/tcp@10.0.0.1:8972
//	value  the metadata as a URL query string       e.g. weight=2&group=blue
//
// The base path has no leading '/' (rpcx strips it, as Consul keys have
// none). Every key a driver writes is acquired by the driver's one session,
// created by the first Put with Behavior=delete, LockDelay=1ms and a TTL of
// half that Put's record TTL (core uses one TTL for all): Consul invalidates
// a session twice its TTL after the last renewal (libkv makes the same
// halving), so the key is deleted one record TTL after the last refresh.
// KeepAlive renews the session, at most twice a refresh interval for all the
// driver's keys, and checks that the key is still held by it, from one
// blocking query per service prefix the driver registers in (see kvOwn),
// not from a read per key: a process with 300 registrations makes about 2
// requests per interval, not 600. A lost session (expired, agent restarted)
// is ErrNotFound, and the next Put creates a new one. A key still held by another session (a previous
// process on the same address whose session has not expired) is written
// without acquiring it, so the value is current at once; it is acquired by
// the first Put after that session expired. Consul refuses session TTLs
// under its session_ttl_min (10s by default), so mode=kv needs ttl >= 20s
// unless the agent lowers session_ttl_min. rpcx's servers also write two marker keys
// ({basePath} = "rpcx_path", {basePath}/{service} = service) that no reader
// needs; this driver does not.
//
// Discovery lists the prefix {basePath}/{service}/ as blocking queries. Keys
// that are not an address and values that are not a URL query string are
// skipped with a warning.
//
// # Blocking queries
//
// Each Watcher.Next follows Consul's rules for blocking queries: the first
// query has index 0 and returns at once; later ones wait on the last index;
// an index that went backwards (agent restarted, servers changed, KV
// tombstones reaped) is reset to 0; an index below 1 is raised to 1; two
// queries of one watch start at least min_query_interval apart, so a query
// that keeps returning at once cannot spin. A query that fails is returned
// as an error: core keeps the last list, backs off with jitter and opens a
// new watch. Results hidden by ACLs are an error too, not an empty list:
// when Consul flags them, and, for a driver without a token, when an empty
// answer comes from ACLs denying anonymous reads (Consul hides that flag from
// anonymous requests, so the driver asks the agent's /v1/internal/acl/authorize,
// once, the endpoint Consul's UI uses).
//
// # Errors
//
// Calls Consul's ACLs refuse return errors wrapping ErrPermissionDenied and
// core.ErrInvalid (so core's Register reports them at once), with Consul's
// reason (the permission and resource) and whether a token was given. No
// error or log line holds the token: it travels in a header.
//
// The driver holds no policy: retries, backoff and the last known list during
// outages are core's.
package consul
