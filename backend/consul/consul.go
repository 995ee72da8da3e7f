//go:build consul

package consul

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/seedforge/discovery/core"
)

// Mode selects where records live.
type Mode string

const (
	// ModeCatalog registers agent services with TTL checks (the default).
	ModeCatalog Mode = "catalog"
	// ModeKV uses rpcx's KV layout, kept alive by a session.
	ModeKV Mode = "kv"
)

// Defaults of Config fields left zero.
const (
	DefaultAddress                 = "127.0.0.1:8500"
	DefaultBasePath                = "services"
	DefaultWaitTime                = time.Minute
	DefaultMinQueryInterval        = 100 * time.Millisecond
	DefaultDeregisterCriticalAfter = time.Minute
)

// MetaAddr is the service meta key that holds the instance's rpcx address in
// catalog mode. Instances cannot use it for their own metadata.
const MetaAddr = "rpcx_addr"

// ErrPermissionDenied is wrapped by the errors of calls Consul's ACLs refused.
// Those errors also wrap core.ErrInvalid: a missing or too narrow token is a
// configuration error, so core's Register reports it at once instead of
// retrying it forever.
var ErrPermissionDenied = errors.New("permission denied by Consul ACLs")

// Config configures a driver made in code.
type Config struct {
	// Address is the agent's host:port. Default DefaultAddress.
	Address string
	// Token is the ACL token. It is sent in a header, never logged.
	Token string
	// Mode is ModeCatalog (default) or ModeKV.
	Mode Mode
	// BasePath prefixes every key in ModeKV, without leading or trailing
	// '/': "rpcx_test" gives rpcx_test/{service}/{address}. Default
	// DefaultBasePath. It must be empty in ModeCatalog.
	BasePath string
	// Datacenter of the queries; default the agent's.
	Datacenter string
	// TLS, when not nil, makes the driver talk https with this configuration.
	TLS *tls.Config
	// WaitTime is the longest wait of one blocking query. Default
	// DefaultWaitTime; Consul caps it at 10m.
	WaitTime time.Duration
	// MinQueryInterval is the least time between the starts of two queries
	// of one watch. Default DefaultMinQueryInterval.
	MinQueryInterval time.Duration
	// DeregisterCriticalAfter is the DeregisterCriticalServiceAfter of the
	// TTL checks (ModeCatalog). Default DefaultDeregisterCriticalAfter;
	// Consul raises values below 1m to 1m.
	DeregisterCriticalAfter time.Duration
	// Logger receives the warnings about skipped records. Default
	// slog.Default().
	Logger *slog.Logger
}

func init() {
	core.RegisterBackend(core.Backend{Scheme: "consul", SecretUser: true, Open: open,
		Options: append([]string{"mode", "dc", "wait", "min_query_interval", "deregister_critical_after"}, core.TLSOptions...)})
}

// New returns a driver on the agent cfg names. It does not touch the network:
// an unreachable agent shows up as errors of the calls. The driver is meant
// for core (or the root package's discovery.New), which owns and closes it.
func New(cfg Config) (core.Driver, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	switch c.cfg.Mode {
	case ModeKV:
		d := &kvDriver{client: c, base: c.cfg.BasePath, sem: make(chan struct{}, 1)}
		d.own = newKVOwn(d)
		return d, nil
	default:
		return &catalogDriver{client: c}, nil
	}
}

// client is what both modes share: the api client, its transport, the
// driver's life and the blocking-query settings.
type client struct {
	cfg       Config
	api       *api.Client
	transport *http.Transport
	log       *slog.Logger
	hasToken  bool // a token is sent (from Config or the environment)

	ctx    context.Context // ends on Close
	cancel context.CancelFunc
	once   sync.Once

	// For drivers without a token: ACLs found off, and resources anonymous
	// requests were found allowed to read (see anonymousCheck).
	aclOff   atomic.Bool
	anonRead sync.Map
}

func newClient(cfg Config) (*client, error) {
	if cfg.Address == "" {
		cfg.Address = DefaultAddress
	}
	if strings.Contains(cfg.Address, "://") || strings.ContainsAny(cfg.Address, ", \t\n/") {
		return nil, fmt.Errorf("%w: consul address %q must be one host:port (use Config.TLS or tls=true for https)", core.ErrInvalid, cfg.Address)
	}
	if _, _, err := net.SplitHostPort(cfg.Address); err != nil {
		return nil, fmt.Errorf("%w: consul address %q is not host:port: %v", core.ErrInvalid, cfg.Address, err)
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = ModeCatalog
	case ModeCatalog, ModeKV:
	default:
		return nil, fmt.Errorf("%w: consul mode %q: use catalog or kv", core.ErrInvalid, cfg.Mode)
	}
	var err error
	if cfg.BasePath, err = basePath(cfg.Mode, cfg.BasePath); err != nil {
		return nil, err
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"wait time", &cfg.WaitTime, DefaultWaitTime},
		{"min query interval", &cfg.MinQueryInterval, DefaultMinQueryInterval},
		{"deregister critical after", &cfg.DeregisterCriticalAfter, DefaultDeregisterCriticalAfter},
	} {
		if *d.v < 0 {
			return nil, fmt.Errorf("%w: consul %s %v must be positive", core.ErrInvalid, d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if strings.ContainsAny(cfg.Token, " \t\n") {
		return nil, fmt.Errorf("%w: consul ACL token must not contain white space", core.ErrInvalid)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	// Our own transport, so Close can drop its idle connections (and their
	// goroutines) without touching anybody else's.
	transport := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     cfg.TLS,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	scheme := "http"
	if cfg.TLS != nil {
		scheme = "https"
	}
	acfg := &api.Config{
		Address:    cfg.Address,
		Scheme:     scheme,
		Datacenter: cfg.Datacenter,
		Token:      cfg.Token,
		Transport:  transport,
		HttpClient: &http.Client{Transport: transport},
	}
	ac, err := api.NewClient(acfg)
	if err != nil {
		// Only the token file path can fail here; no secret in it.
		return nil, fmt.Errorf("consul %s: %w", cfg.Address, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// NewClient filled acfg.Token from CONSUL_HTTP_TOKEN(_FILE) when cfg had none.
	return &client{cfg: cfg, api: ac, transport: transport, log: log, hasToken: acfg.Token != "", ctx: ctx, cancel: cancel}, nil
}

// basePath checks the base path of mode: empty in catalog mode; in kv mode
// no leading or trailing '/', no empty elements, no white space.
func basePath(mode Mode, p string) (string, error) {
	trimmed := strings.Trim(p, "/")
	if mode == ModeCatalog {
		if trimmed != "" {
			return "", fmt.Errorf("%w: consul base path %q only applies to mode=kv; catalog mode registers agent services, which have no path: drop the path (consul://host:8500?mode=catalog) or the mode (a path means mode=kv)", core.ErrInvalid, p)
		}
		return "", nil
	}
	if trimmed == "" {
		return DefaultBasePath, nil
	}
	if strings.Contains(trimmed, "//") || strings.ContainsAny(trimmed, " \t\n") {
		return "", fmt.Errorf("%w: consul base path %q must not contain empty elements or white space", core.ErrInvalid, p)
	}
	return trimmed, nil
}

// bind returns ctx ended also by Close.
func (c *client) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

func (c *client) closed() bool { return c.ctx.Err() != nil }

// list reads service once through the mode's fetch.
func (c *client) list(ctx context.Context, service string, fetch func(string) fetchFunc) ([]core.Instance, error) {
	if err := core.ValidateService(service); err != nil {
		return nil, err
	}
	if c.closed() {
		return nil, core.ErrClosed
	}
	ctx, cancel := c.bind(ctx)
	defer cancel()
	list, _, err := fetch(service)(ctx, 0, 0)
	return list, err
}

// watch starts a blocking-query watcher over the mode's fetch.
func (c *client) watch(ctx context.Context, service string, fetch func(string) fetchFunc) (core.Watcher, error) {
	if err := core.ValidateService(service); err != nil {
		return nil, err
	}
	if c.closed() {
		return nil, core.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.newWatcher(ctx, fetch(service)), nil
}

// Close ends every call and watch in flight and drops the idle connections.
// It deletes nothing: services stop passing their TTL checks, sessions
// expire, as the Driver contract says.
func (c *client) Close() error {
	c.once.Do(func() {
		c.cancel()
		c.transport.CloseIdleConnections()
	})
	return nil
}

func (c *client) query(ctx context.Context, index uint64, wait time.Duration) *api.QueryOptions {
	q := &api.QueryOptions{}
	if index > 0 {
		q.WaitIndex, q.WaitTime = index, wait
	}
	return q.WithContext(ctx)
}

func (c *client) write(ctx context.Context) *api.WriteOptions {
	return (&api.WriteOptions{}).WithContext(ctx)
}

// fail wraps err of operation op ("register Arith tcp@…") with what the user
// needs: ErrClosed after Close, ErrPermissionDenied and a hint on ACL
// refusals. Consul's errors never hold the token (it travels in a header).
func (c *client) fail(op string, err error) error {
	if c.closed() {
		return fmt.Errorf("consul %s: %w", op, core.ErrClosed)
	}
	var se api.StatusError
	if errors.As(err, &se) && se.Code == http.StatusForbidden {
		return fmt.Errorf("consul %s: %w: %w: %s; %s", op, core.ErrInvalid, ErrPermissionDenied, strings.TrimSpace(se.Body), c.tokenHint())
	}
	return fmt.Errorf("consul %s: %w", op, err)
}

// readScope names what a query reads, for the errors of checkAnswer.
type readScope struct {
	op       string // as in fail: "health of Arith", "list rpcx/Arith/"
	resource string // the ACL resource: "service" or "key"
	segment  string // its name
	needs    string // the permissions a token needs to read it all
}

// checkAnswer vets a query's answer before it is decoded, the same way in
// both modes: a failed query; an answer Consul says its ACLs filtered, which
// is not the truth (an empty list here would make clients drop live
// instances); an empty answer, which may be an anonymous refusal.
func (c *client) checkAnswer(ctx context.Context, s readScope, err error, meta *api.QueryMeta, empty bool) error {
	if err != nil {
		return c.fail(s.op, err)
	}
	if meta.ResultsFilteredByACLs {
		return fmt.Errorf("consul %s: %w: %w: some results were hidden by ACLs: the token needs %s",
			s.op, core.ErrInvalid, ErrPermissionDenied, s.needs)
	}
	if empty {
		return c.anonymousCheck(ctx, s.resource, s.segment, s.op)
	}
	return nil
}

// tokenHint says how to give a token, and whether one was given.
func (c *client) tokenHint() string {
	if !c.hasToken {
		return "no ACL token was given: put one in the URL as consul://TOKEN@host:port, in Config.Token or in CONSUL_HTTP_TOKEN"
	}
	return "the ACL token given lacks the permission named"
}

// anonymousCheck runs for drivers without a token after a query came back
// empty. Consul answers anonymous requests its ACLs deny with an empty
// result, and even blanks the header saying it filtered them, so an empty
// list cannot be told from a refusal. This asks the agent whether anonymous
// requests may read resource (service, key) named segment, through the
// endpoint Consul's UI uses, and returns an error naming the fix when not.
// It is best effort: if the question itself fails, the empty list stands.
func (c *client) anonymousCheck(ctx context.Context, resource, segment, what string) error {
	if c.hasToken || c.aclOff.Load() {
		return nil
	}
	key := resource + "\x00" + segment
	if _, ok := c.anonRead.Load(key); ok {
		return nil
	}
	scheme := "http"
	if c.cfg.TLS != nil {
		scheme = "https"
	}
	u := scheme + "://" + c.cfg.Address + "/v1/internal/acl/authorize"
	if c.cfg.Datacenter != "" {
		u += "?dc=" + url.QueryEscape(c.cfg.Datacenter)
	}
	body, _ := json.Marshal([]map[string]string{{"Resource": resource, "Segment": segment, "Access": "read"}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil
	}
	resp, err := (&http.Client{Transport: c.transport}).Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var out []struct{ Allow bool }
	switch {
	case resp.StatusCode == http.StatusUnauthorized: // "ACL support disabled"
		c.aclOff.Store(true)
		return nil
	case resp.StatusCode != http.StatusOK:
		return nil
	case json.NewDecoder(resp.Body).Decode(&out) != nil || len(out) != 1:
		return nil
	case out[0].Allow:
		c.anonRead.Store(key, true)
		return nil
	}
	return fmt.Errorf("consul %s: %w: %w: the agent's ACLs deny %s:read on %q to requests without a token, and Consul answers those with an empty list; %s",
		what, core.ErrInvalid, ErrPermissionDenied, resource, segment, c.tokenHint())
}

func statusCode(err error) int {
	var se api.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}
