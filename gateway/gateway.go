package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"golang.org/x/time/rate"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/selector"
)

// Headers the gateway reads.
const (
	// HeaderTimeout bounds one call, as a Go duration ("250ms", "2s"); it
	// replaces the service's Timeout, up to Config.MaxTimeout.
	HeaderTimeout = "X-Request-Timeout"
	// HeaderRequestID and HeaderTraceparent are forwarded to the service as
	// call metadata (rpcx message metadata, gRPC metadata), under their
	// lower-case names.
	HeaderRequestID   = "X-Request-Id"
	HeaderTraceparent = "Traceparent"
)

// lookupsPerSecond bounds the registry lookups of service names the gateway
// does not follow yet (each opens a watch), bursts of twice that allowed.
const lookupsPerSecond = 20

// Defaults of Config and Service.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultTimeout      = 10 * time.Second
	DefaultMaxTimeout   = 5 * time.Minute
	DefaultSelector     = "p2c"
)

// Config configures a Gateway.
type Config struct {
	// Discovery is where services are found: a *discovery.Client. Required.
	Discovery core.Discovery
	// Default applies to every service without an entry in Services.
	Default Service
	// Services configures services by name.
	Services map[string]Service
	// MaxBodyBytes bounds request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxTimeout bounds the deadline a client may ask for in HeaderTimeout;
	// 0 means DefaultMaxTimeout.
	MaxTimeout time.Duration
	// Logger receives upstream failures; nil means slog.Default().
	Logger *slog.Logger
	// MeterProvider receives the gateway's metrics (metrics.go); nil means
	// otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
}

// Service says how the calls of one service are made.
type Service struct {
	// Selector names the selector (selector.New): "p2c" when empty. With
	// "consistenthash", the key is the value of HashHeader.
	Selector string
	// HashHeader is the request header whose value keys a consistent hash,
	// so that the same user (say) reaches the same instance.
	HashHeader string
	// FailMode and Retries are passed to selector.Call.
	FailMode selector.FailMode
	Retries  int
	// Idempotent allows retrying a call that may have reached a server.
	// Without it only calls that could not be sent (no connection) are tried
	// again; the others fail with their error.
	Idempotent bool
	// Timeout bounds each call unless HeaderTimeout says otherwise; 0 means
	// DefaultTimeout.
	Timeout time.Duration
}

// Gateway is the http.Handler. Close it to end its watches and connections.
type Gateway struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context // ends at Close: bounds watches
	cancel context.CancelFunc
	mux    *http.ServeMux

	mu     sync.Mutex
	routes map[string]*route
	closed bool

	lookups *rate.Limiter // first lookups of service names (route.go)
	metrics *instruments

	seq  atomic.Uint64 // rpcx message ids: unique per connection
	rpcx *rpcxPool
	grpc *grpcPool
}

// New builds a Gateway. It validates the selector names now, so that a bad
// configuration fails at start rather than at the first call.
func New(cfg Config) (*Gateway, error) {
	if cfg.Discovery == nil {
		return nil, fmt.Errorf("%w: gateway: Config.Discovery is nil: pass the discovery.Client", core.ErrInvalid)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = DefaultMaxTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	check := func(name string, s Service) error {
		if s.Selector == "" {
			s.Selector = DefaultSelector
		}
		if _, err := selector.New(s.Selector); err != nil {
			return fmt.Errorf("%w: gateway: service %s: %v", core.ErrInvalid, name, err)
		}
		if strings.EqualFold(s.Selector, "consistenthash") && s.HashHeader == "" {
			return fmt.Errorf("%w: gateway: service %s: consistenthash needs HashHeader, the header whose value is the key", core.ErrInvalid, name)
		}
		if s.FailMode == selector.Failbackup && !s.Idempotent {
			return fmt.Errorf("%w: gateway: service %s: failbackup sends a second copy of slow calls, which only an idempotent service can take: set Idempotent or choose another fail mode", core.ErrInvalid, name)
		}
		if s.Timeout < 0 || s.Retries < -1 {
			return fmt.Errorf("%w: gateway: service %s: Timeout must be ≥ 0 and Retries ≥ -1", core.ErrInvalid, name)
		}
		return nil
	}
	if err := check("(default)", cfg.Default); err != nil {
		return nil, err
	}
	for name, s := range cfg.Services {
		if err := core.ValidateService(name); err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		if err := check(name, s); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{
		cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel,
		routes:  map[string]*route{},
		lookups: rate.NewLimiter(lookupsPerSecond, 2*lookupsPerSecond),
		metrics: newInstruments(cfg.MeterProvider),
		rpcx:    newRPCXPool(),
		grpc:    newGRPCPool(),
	}
	g.mux = http.NewServeMux()
	g.mux.HandleFunc("POST /rpc", g.serveRPC)
	g.mux.HandleFunc("GET /services", g.serveServices)
	g.mux.HandleFunc("POST /{service}/{method}", g.serveMicro)
	return g, nil
}

// Handle adds a handler to the gateway's mux (the dashboard and the service
// list use it), with the patterns of http.ServeMux.
func (g *Gateway) Handle(pattern string, h http.Handler) { g.mux.Handle(pattern, h) }

// Close ends the watches and closes the connections to the services.
func (g *Gateway) Close() error {
	g.mu.Lock()
	g.closed = true
	routes := g.routes
	g.routes = map[string]*route{}
	g.mu.Unlock()
	g.cancel()
	for _, r := range routes {
		<-r.done
	}
	return errors.Join(g.rpcx.close(), g.grpc.close())
}

// ServeHTTP serves the routes; a request carrying rpcx's gateway headers is
// served as rpcx-gateway would, whatever its path.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(rpcxServicePath) != "" || r.Header.Get(rpcxServiceMethod) != "" {
		g.serveRPCXHeaders(w, r)
		return
	}
	g.mux.ServeHTTP(w, r)
}

// call is one request to a service, whatever the route it came by.
type call struct {
	service, method string
	body            []byte            // JSON for micro routes; as sent for rpcx headers
	serializeType   int               // rpcx serialize type of body
	meta            map[string]string // forwarded metadata
	key             string            // consistent hash key
}

// reply is a service's answer.
type reply struct {
	body []byte
	meta map[string]string // rpcx response metadata
}

func (g *Gateway) serveMicro(w http.ResponseWriter, r *http.Request) {
	body, ok := g.readJSON(w, r)
	if !ok {
		return
	}
	c := &call{service: r.PathValue("service"), method: r.PathValue("method"), body: body, serializeType: serializeJSON}
	g.serveCall(w, r, c)
}

// rpcRequest is the body of POST /rpc.
type rpcRequest struct {
	Service string          `json:"service"`
	Method  string          `json:"method"`
	Request json.RawMessage `json:"request"`
}

func (g *Gateway) serveRPC(w http.ResponseWriter, r *http.Request) {
	body, ok := g.readJSON(w, r)
	if !ok {
		return
	}
	var req rpcRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "body must be {\"service\": …, \"method\": …, \"request\": {…}}: "+err.Error())
		return
	}
	if req.Service == "" || req.Method == "" {
		writeError(w, http.StatusBadRequest, "body must name \"service\" and \"method\"")
		return
	}
	if len(req.Request) == 0 || string(req.Request) == "null" {
		req.Request = json.RawMessage("{}")
	}
	g.serveCall(w, r, &call{service: req.Service, method: req.Method, body: req.Request, serializeType: serializeJSON})
}

// serveServices lists the registry's services and their instance counts
// (those clients are given: inactive ones left out), as
// [{"service": "Arith", "instances": 3}, …]. A backend that cannot
// enumerate answers 501 with its reason.
func (g *Gateway) serveServices(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), DefaultTimeout)
	defer cancel()
	list, err := g.cfg.Discovery.Services(ctx)
	switch {
	case errors.Is(err, core.ErrUnsupported):
		writeError(w, http.StatusNotImplemented, err.Error())
		return
	case err != nil:
		status, _ := classify(err)
		if status == http.StatusBadGateway {
			g.log.Warn("gateway: listing services failed", "err", err)
		}
		writeError(w, status, "listing services: "+err.Error())
		return
	}
	if list == nil {
		list = []core.ServiceCount{}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(list)
}

// readJSON reads a bounded body that must be JSON; empty means {}.
func (g *Gateway) readJSON(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, ok := g.readBody(w, r)
	if !ok {
		return nil, false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return []byte("{}"), true
	}
	if !json.Valid(body) {
		writeError(w, http.StatusBadRequest, "body is not valid JSON")
		return nil, false
	}
	return body, true
}

func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", g.cfg.MaxBodyBytes))
		} else {
			writeError(w, http.StatusBadRequest, "reading body: "+err.Error())
		}
		return nil, false
	}
	return body, true
}

func (g *Gateway) serveCall(w http.ResponseWriter, r *http.Request, c *call) {
	rep, err := g.do(r, c)
	if err != nil {
		status, msg := classify(err)
		if status >= 500 {
			g.log.Warn("gateway call failed", "service", c.service, "method", c.method, "status", status, "err", err)
		}
		writeError(w, status, msg)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(rep.body)
}

// do makes the call through the service's selector and fail mode, and
// records it in the metrics.
func (g *Gateway) do(r *http.Request, c *call) (*reply, error) {
	start := time.Now()
	rep, err := g.call(r, c)
	status := http.StatusOK
	if err != nil {
		status, _ = classify(err)
	}
	g.observe(c.service, status, start)
	return rep, err
}

func (g *Gateway) call(r *http.Request, c *call) (*reply, error) {
	if err := core.ValidateService(c.service); err != nil {
		return nil, &statusError{http.StatusNotFound, "unknown service " + quote(c.service), err}
	}
	if c.method == "" {
		return nil, &statusError{http.StatusBadRequest, "missing method name", nil}
	}
	svc := g.service(c.service)
	timeout := svc.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if h := r.Header.Get(HeaderTimeout); h != "" {
		d, err := time.ParseDuration(h)
		if err != nil || d <= 0 {
			return nil, &statusError{http.StatusBadRequest, HeaderTimeout + " must be a positive Go duration such as 500ms or 2s, not " + quote(h), err}
		}
		timeout = min(d, g.cfg.MaxTimeout)
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()

	if c.meta == nil {
		c.meta = map[string]string{}
	}
	for _, h := range []string{HeaderRequestID, HeaderTraceparent, "Tracestate"} {
		if v := r.Header.Get(h); v != "" {
			c.meta[strings.ToLower(h)] = v
		}
	}
	if svc.HashHeader != "" {
		c.key = r.Header.Get(svc.HashHeader)
	}

	rt, err := g.route(ctx, c.service)
	if err != nil {
		return nil, err
	}
	var rep *reply
	opts := selector.CallOptions{Mode: svc.FailMode, Retries: svc.Retries, Key: c.key}
	err = selector.Call(ctx, rt.sel, opts, func(ctx context.Context, inst core.Instance) error {
		var err error
		if inst.Meta[core.MetaProtocol] == core.ProtocolGRPC {
			rep, err = g.callGRPC(ctx, rt, inst, c)
		} else {
			rep, err = g.callRPCX(ctx, inst, c)
		}
		var ns *notSentError
		if err != nil && !svc.Idempotent && !errors.As(err, &ns) && !selector.IsBusiness(err) && ctx.Err() == nil {
			// The server may have run the call: not safe to try again.
			return selector.Business(&maybeSentError{err})
		}
		return err
	})
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &statusError{http.StatusGatewayTimeout, fmt.Sprintf("%s.%s: no answer within %v", c.service, c.method, timeout), err}
		}
		return nil, err
	}
	return rep, nil
}

// service returns the configuration of name.
func (g *Gateway) service(name string) Service {
	s, ok := g.cfg.Services[name]
	if !ok {
		s = g.cfg.Default
	}
	if s.Selector == "" {
		s.Selector = DefaultSelector
	}
	return s
}

func quote(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "…"
	}
	return fmt.Sprintf("%q", s)
}
