//go:build zookeeper

// Package zookeeper is the ZooKeeper backend, built with -tags zookeeper.
//
// URL form:
//
//	zk://[user:password@]host1:2181,host2:2181/basePath?session_timeout=10s
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
// Nodes whose name is not an address or whose data is not a URL query are
// skipped with a warning.
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

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/seedforge/discovery/core"
)

// Defaults for Config fields left zero.
const (
	DefaultBasePath       = "/rpcx"
	DefaultSessionTimeout = 10 * time.Second
)

// Config configures a driver opened with New.
type Config struct {
	// Servers are the ZooKeeper servers as host:port (port 2181 if omitted).
	Servers []string
	// BasePath is the root of the registry, like rpcx's BasePath
	// (e.g. "/rpcx_test"). Default DefaultBasePath.
	BasePath string
	// SessionTimeout is the ZooKeeper session timeout, which is how long
	// registrations survive a process that died or lost its connection.
	// The server clamps it to [2, 20] × its tickTime. Default 10s.
	SessionTimeout time.Duration
	// Username and Password are digest credentials. When set, the driver
	// authenticates with them and protects the nodes it creates with a
	// digest ACL (see the package documentation).
	Username, Password string
	// Logger receives the driver's and the ZooKeeper client's messages.
	// Default slog.Default().
	Logger *slog.Logger
}

// String describes the configuration without its password.
func (c Config) String() string {
	user := ""
	if c.Username != "" {
		user = c.Username + ":xxxxx@"
	}
	return fmt.Sprintf("zk://%s%s%s?session_timeout=%s", user, strings.Join(c.Servers, ","), c.BasePath, c.SessionTimeout)
}

func (c Config) withDefaults() (Config, error) {
	if len(c.Servers) == 0 {
		return c, fmt.Errorf("%w: zookeeper: no servers; name at least one, e.g. zk://127.0.0.1:2181/rpcx", core.ErrInvalid)
	}
	for _, s := range c.Servers {
		if s == "" || strings.ContainsAny(s, "/ \t\n@") {
			return c, fmt.Errorf("%w: zookeeper: server %q must be host:port, e.g. 127.0.0.1:2181", core.ErrInvalid, s)
		}
	}
	if c.BasePath == "" || c.BasePath == "/" {
		c.BasePath = DefaultBasePath
	}
	c.BasePath = strings.TrimSuffix(c.BasePath, "/")
	if !strings.HasPrefix(c.BasePath, "/") {
		c.BasePath = "/" + c.BasePath
	}
	for _, el := range strings.Split(c.BasePath[1:], "/") {
		if el == "" || el == "." || el == ".." {
			return c, fmt.Errorf("%w: zookeeper: base path %q has an empty, '.' or '..' element; write it like /rpcx_test", core.ErrInvalid, c.BasePath)
		}
	}
	if c.BasePath == "/zookeeper" || strings.HasPrefix(c.BasePath, "/zookeeper/") {
		return c, fmt.Errorf("%w: zookeeper: base path %q is inside ZooKeeper's reserved /zookeeper tree", core.ErrInvalid, c.BasePath)
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.SessionTimeout < 0 {
		return c, fmt.Errorf("%w: zookeeper: session timeout %v must be positive", core.ErrInvalid, c.SessionTimeout)
	}
	if (c.Username == "") != (c.Password == "") {
		return c, fmt.Errorf("%w: zookeeper: digest credentials need both a user and a password (zk://user:password@host:2181/path)", core.ErrInvalid)
	}
	if strings.Contains(c.Username, ":") {
		return c, fmt.Errorf("%w: zookeeper: digest user name %q must not contain ':'", core.ErrInvalid, c.Username)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

func init() {
	core.RegisterBackend(core.Backend{Scheme: "zk", Open: open})
}

// open builds a driver from zk://[user:pass@]h1:2181,h2:2181/basePath?session_timeout=10s.
func open(_ context.Context, t core.Target, p *core.Params) (core.Driver, error) {
	cfg := Config{Servers: t.Hosts, BasePath: t.Path, Logger: t.Logger}
	if t.User != nil {
		cfg.Username = t.User.Username()
		cfg.Password, _ = t.User.Password()
	}
	var err error
	if cfg.SessionTimeout, err = p.Duration("session_timeout", DefaultSessionTimeout); err != nil {
		return nil, err
	}
	return New(cfg)
}
