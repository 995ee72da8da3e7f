//go:build zookeeper

// Package zookeeper is the ZooKeeper backend, built with -tags zookeeper.
//
// URL form:
//
//	zk://[user:password@]host1:2181,host2:2181/basePath?session_timeout=10s
//
// session_timeout (default 10s) must lie within [1s, 2m]: servers clamp it
// to [2, 20] × their tickTime (4s to 40s by default) without a word.
//
// The data layout is rpcx's ZooKeeper registry layout, so stock rpcx servers
// and clients (github.com/rpcxio/rpcx-zookeeper, which stores through
// github.com/rpcxio/libkv) interoperate with this backend both ways:
//
//	/basePath                        persistent, data "rpcx_path"
//	/basePath/service                persistent, data "service"
//	/basePath/service/network@addr   ephemeral,  data: metadata as a URL query
//
// Parents are created as needed. An instance node is ephemeral: it lives as
// long as the ZooKeeper session of the driver that wrote it, so the TTL that
// core passes is not used: the session timeout plays its part. The ttl and
// interval options still set how often core checks that the node is there
// (a cheap exists call), which bounds how long a node lost with an expired
// session stays missing: keep the interval near the session timeout.
// A disconnect shorter than the session timeout keeps the session, its nodes
// and its watches; when the session expires the server deletes the nodes,
// KeepAlive reports core.ErrNotFound and core writes them again on the new
// session. A node left by another session (this server's previous run, still
// within its session timeout) is replaced at once.
//
// Watches: a children watch on the service node and a data watch on every
// instance node, so that changes of metadata alone (state=inactive, tps) are
// seen, which rpcx's own ZooKeeper discovery misses. Each fires once and is
// set again as its event is handled. While disconnected a watch simply waits
// (core keeps the last list); the client sets the session's watches again on
// reconnect and the server fires those whose nodes changed meanwhile. When
// the session expires, the watch ends with an error and core opens a new one.
// The client keeps every watch set until its node changes and cannot remove
// one, so the driver sets a watch only where its client holds none of that
// node and kind: watchers opened again and again (core reopens one after any
// error) share the watches already set instead of piling up copies; events
// reach every watcher of the service whichever watcher set them
// (watches.go). Nodes whose data is not a URL query are skipped with a
// bounded warning; core keeps out names that are not an address.
//
// A ZooKeeper node name cannot hold '/', so an address such as
// unix@/tmp/s.sock is stored as unix@%2Ftmp%2Fs.sock ('%' itself as %25) and
// decoded on reading. rpcx's own registry does not handle such addresses at
// all: it splits them into nested nodes ("unix@" → "tmp" → "s.sock") that its
// clients then read back as a server called "unix@". Addresses without '/' or
// '%' (all tcp, quic, kcp… addresses) are stored unchanged, byte for byte as
// rpcx stores them.
//
// With digest credentials (Config.Username and Config.Password, or user:pass
// in the URL), every node this driver creates gets the ACL
// digest:user:hash → all permissions, world:anyone → read. Only clients
// authenticated as the same user can create or delete instances under our
// service nodes, or change their data; anyone can still read the registry, so
// stock rpcx clients, which cannot authenticate, still discover the servers.
// Addresses and metadata are not secrets; the ACL protects against a
// misconfigured or hostile client removing or rewriting registrations. Nodes
// that already exist (created by rpcx or an operator) keep their ACL: the
// protection of our instances needs their parent service node to be ours
// too, since ZooKeeper checks a delete against the parent's ACL.
//
// Closing the driver closes its ZooKeeper session, which removes its
// ephemeral nodes at once (ZooKeeper has no way to keep them for the rest of
// the session timeout once the session is closed). A process that dies
// without closing loses them after the session timeout.
package zookeeper
