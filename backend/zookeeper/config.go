//go:build zookeeper

package zookeeper

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/seedforge/discovery/core"
)

// Defaults for Config fields left zero.
const (
	DefaultBasePath       = "/rpcx"
	DefaultSessionTimeout = 10 * time.Second
	// MinSessionTimeout and MaxSessionTimeout bound session_timeout in a
	// URL. A server clamps the timeout to [2, 20] × its tickTime without
	// saying so (4s to 40s with the default tickTime of 2s), so a value
	// outside what any usual tickTime allows is a mistake, not a wish.
	MinSessionTimeout = time.Second
	MaxSessionTimeout = 2 * time.Minute
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

// String describes the configuration without its password (core.Redact).
func (c Config) String() string {
	user := ""
	if c.Username != "" {
		user = url.PathEscape(c.Username) + ":" + url.PathEscape(c.Password) + "@"
	}
	return core.Redact(fmt.Sprintf("zk://%s%s%s?session_timeout=%s", user, strings.Join(c.Servers, ","), c.BasePath, c.SessionTimeout))
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
	core.RegisterBackend(core.Backend{Scheme: "zk", Open: open, Options: []string{"session_timeout"}})
}

// open builds a driver from zk://[user:pass@]h1:2181,h2:2181/basePath?session_timeout=10s.
func open(_ context.Context, t core.Target, p *core.Params) (core.Driver, error) {
	cfg := Config{Servers: t.Hosts, BasePath: t.Path, Logger: t.Logger}
	if t.User != nil {
		cfg.Username = t.User.Username()
		cfg.Password, _ = t.User.Password()
	}
	var err error
	if cfg.SessionTimeout, err = p.DurationIn("session_timeout", DefaultSessionTimeout, MinSessionTimeout, MaxSessionTimeout,
		"ZooKeeper servers clamp it to [2, 20] × their tickTime, 4s to 40s by default"); err != nil {
		return nil, err
	}
	return New(cfg)
}
