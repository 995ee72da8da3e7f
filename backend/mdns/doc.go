//go:build mdns

// Package mdns is a zero-infrastructure LAN backend: every registered
// instance is answered by a multicast DNS responder in the registering
// process (DNS-SD, RFC 6762/6763, through github.com/hashicorp/mdns v1.0.7),
// and discovery browses the LAN for one service type.
//
// Compiled in with the build tag mdns. URL form:
//
//	mdns://local?interface=eth0&browse=5s&query_timeout=1s&expiry=15s
//
// The host part is the mDNS domain (default "local"). Options:
//
//	interface=NAME     multicast interface of responders and browses
//	                   (default: the system's default multicast interface);
//	                   an unknown name is an error listing the known ones
//	browse=5s          how often a watch asks the LAN for the service
//	query_timeout=1s   how long one browse listens for answers (default 1s,
//	                   or browse if shorter); a browse always lasts this
//	                   long, and it must not exceed browse
//	expiry=15s         a watched instance unseen for longer than this is gone
//	                   (default 3 × browse, so two lost answers in a row do
//	                   not drop it); at least browse
//
// # Records
//
// A Put of service S at tcp@IP:PORT answers, for the service type _S._tcp
// in the domain:
//
//	_S._tcp.local.                     PTR  <label>._S._tcp.local.
//	<label>._S._tcp.local.             SRV  10 1 PORT <label>.local.
//	<label>.local.                     A or AAAA  IP
//	<label>._S._tcp.local.             TXT  "key=value" …
//
// where <label> is the address with every character other than a letter or
// a digit replaced by '-' ("127-0-0-1-8972"; "---1--8972" for [::1]:8972).
// Discovery rebuilds the address as tcp@IP:PORT from the A/AAAA and SRV
// records, so it round-trips exactly.
//
// Limits, all reported by Put as core.ErrInvalid naming the fix, never
// silently dropped or truncated:
//
//   - Service name: it becomes the DNS label "_S", at most 63 bytes, so S is
//     1 to 62 bytes of letters, digits, '-' and '_' (a '.' would split the
//     label). Strict DNS-SD browsers (RFC 6335) further expect at most 15
//     letters, digits and hyphens; rpcx service names longer than that work
//     between processes using this package. DNS compares names without
//     regard to case: services whose names differ only in case share a
//     service type on the wire, so avoid them.
//   - Address: only tcp@IP:PORT with an IP literal (SRV says _tcp, A/AAAA
//     need an IP); other networks, host names, port 0 and unspecified
//     addresses (0.0.0.0, ::) are rejected.
//   - Metadata: one TXT string "key=value" per key, sorted by key, as
//     DNS-SD prescribes. Each string is limited to 255 bytes (key + '=' +
//     value, in bytes): a longer one is rejected with an error naming the
//     key. Keys must be non-empty printable ASCII without '='; keys that
//     differ only in case are rejected (DNS-SD keys are case-insensitive).
//     Values are any bytes. A whole answer must fit an mDNS message (9000
//     bytes, RFC 6762 §17), so very large metadata is rejected too.
//
// Received TXT strings that do not follow these rules (empty key, key with
// non-printable bytes, a repeated key) are skipped with one slog warning per
// watch; the rest of the instance is kept. A string without '=' is a DNS-SD
// boolean attribute and becomes a key with an empty value.
//
// # Lifetime and what the library allows
//
// hashicorp/mdns only answers queries: it never announces on its own and has
// no goodbye. So:
//
//   - Put starts a responder (mdns.NewServer over an mdns.MDNSService);
//     records carry the ttl core passed (rounded up to whole seconds).
//   - Put again (new metadata, TPS) swaps the records the running responder
//     answers with: the library's Zone interface is asked per query, so the
//     next browse sees the new TXT, with no gap in answering.
//   - KeepAlive extends the local lifetime: a record whose ttl passes without
//     Put or KeepAlive stops being answered, as in every other store, and
//     KeepAlive then returns core.ErrNotFound, so core writes it again.
//   - Delete stops the responder and sends a goodbye itself (the library has
//     none): one multicast response from port 5353 with the PTR record at
//     TTL 0 (RFC 6762 §10.1), for caching browsers such as Avahi or Bonjour.
//     This package's own browses cannot see TTLs (the library hides them);
//     for them the instance simply stops answering and leaves after expiry.
//   - Close stops every responder without a goodbye, as a crash would.
//
// Discovery asks only for the service's own type (a PTR query for
// _S._tcp.<domain>, never the service enumeration) and ignores answers for
// other names that the library passes through. A Watcher browses at most
// once per browse interval and returns only when the list changed (joins,
// leaves, metadata). List is one browse, so it takes query_timeout; core
// uses it only for Instances of a service nobody watches. Browses run in the
// caller of Next, so a Watcher holds no goroutine of its own; Close of a
// Watcher or of the Driver ends a running Next within query_timeout (the
// library always waits its full timeout).
//
// Latency, measured in a network namespace with browse=200ms,
// query_timeout=100ms: a join or a metadata change reaches a watcher within
// one browse (about 200ms), a leave (Deregister, SIGTERM or crash) after
// expiry plus at most one browse (about 600ms, 1s counting the process's
// exit). In general: join <= browse + query_timeout, leave <= expiry +
// browse + query_timeout.
//
// The library logs through the standard log package; this package routes
// those lines to slog at debug level.
//
// # Tests
//
// The tests send multicast, so they run only inside a private network
// namespace: scripts/test-mdns.sh. Outside one they skip.
package mdns
