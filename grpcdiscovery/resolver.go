package grpcdiscovery

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"

	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/resolver"

	"github.com/seedforge/discovery/core"
)

// Scheme is the default scheme of the resolver: targets read
// discovery:///service.
const Scheme = "discovery"

// Builder is a gRPC resolver.Builder backed by a core.Discovery. One Builder
// serves any number of channels and services; each channel's resolver holds
// one subscription to core's shared watch of its service.
type Builder struct {
	d      core.Discovery
	scheme string
	watch  []core.WatchOption
	log    *slog.Logger
}

var _ resolver.Builder = (*Builder)(nil)

// BuilderOption configures NewBuilder.
type BuilderOption func(*Builder)

// WithScheme sets the target scheme the Builder answers to, so that several
// registries can serve one process side by side, e.g. "etcd" for
// etcd:///Echo next to "consul" for consul:///Echo. Schemes are lower case
// (gRPC lower-cases the target's); NewBuilder panics on a scheme that is not
// a valid URL scheme, as that is a mistake in the program, not in its input.
func WithScheme(scheme string) BuilderOption {
	return func(b *Builder) { b.scheme = strings.ToLower(scheme) }
}

// WithWatchOptions applies core filters (core.WithGroup, core.WithFilter…)
// to every list the Builder's resolvers receive, before gRPC sees them.
func WithWatchOptions(opts ...core.WatchOption) BuilderOption {
	return func(b *Builder) { b.watch = append(b.watch, opts...) }
}

// WithLogger sets where resolvers report skipped instances and ended
// watches. Default slog.Default().
func WithLogger(l *slog.Logger) BuilderOption {
	return func(b *Builder) {
		if l != nil {
			b.log = l
		}
	}
}

// NewBuilder returns a resolver.Builder for targets scheme:///service. Pass
// it to grpc.WithResolvers (per channel), or resolver.Register (process-wide,
// at init time only). The caller keeps ownership of d and closes it after
// the channels that use it.
func NewBuilder(d core.Discovery, opts ...BuilderOption) *Builder {
	b := &Builder{d: d, scheme: Scheme, log: slog.Default()}
	for _, o := range opts {
		if o != nil {
			o(b)
		}
	}
	if !validScheme(b.scheme) {
		panic(fmt.Sprintf("grpcdiscovery: invalid scheme %q: use lower-case letters, digits, '+', '-' or '.', starting with a letter", b.scheme))
	}
	return b
}

// validScheme applies RFC 3986's scheme grammar, which gRPC's target parser
// (net/url) uses: without it the target would silently fall back to dns.
func validScheme(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z') {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// Scheme returns the scheme the Builder answers to.
func (b *Builder) Scheme() string { return b.scheme }

// Build starts watching the target's service. It fails at once, with the
// reason, on a target it cannot serve (bad service name, authority, unknown
// parameter, closed Discovery) rather than leaving the channel waiting for
// addresses that cannot come. gRPC calls it when the channel leaves idle
// mode, so a failure shows as the error of the RPC that woke it.
func (b *Builder) Build(target resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	service, opts, err := b.parseTarget(target)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := b.d.WatchChanges(ctx, service, append(slices.Clip(b.watch), opts...)...)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("grpcdiscovery: target %s: %w", target.String(), err)
	}
	r := &discoveryResolver{
		cc:      cc,
		service: service,
		log:     b.log.With("service", service, "target", target.String()),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	go r.run(ch)
	return r, nil
}

// parseTarget reads scheme:///service[?group=g&version=v].
func (b *Builder) parseTarget(t resolver.Target) (string, []core.WatchOption, error) {
	if t.URL.Host != "" {
		return "", nil, fmt.Errorf("%w: target %s: the authority %q is not used; write %s:///%s",
			core.ErrInvalid, t.String(), t.URL.Host, b.scheme, t.Endpoint())
	}
	service := t.Endpoint()
	if err := core.ValidateService(service); err != nil {
		return "", nil, fmt.Errorf("grpcdiscovery: target %s: %w (write %s:///service)", t.String(), err, b.scheme)
	}
	q, err := url.ParseQuery(t.URL.RawQuery)
	if err != nil {
		return "", nil, fmt.Errorf("%w: target %s: query: %v", core.ErrInvalid, t.String(), err)
	}
	var opts []core.WatchOption
	for _, k := range slices.Sorted(maps.Keys(q)) {
		v := q.Get(k)
		switch k {
		case "group":
			opts = append(opts, core.WithGroup(v))
		case "version":
			opts = append(opts, core.WithVersion(v))
		default:
			return "", nil, fmt.Errorf("%w: target %s: unknown parameter %q; known: group, version", core.ErrInvalid, t.String(), k)
		}
	}
	return service, opts, nil
}

// discoveryResolver forwards one core watch to one gRPC channel.
type discoveryResolver struct {
	cc      resolver.ClientConn
	service string
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	// resolved holds the gRPC address of each instance, worked out (and a
	// not dialable one reported) once per change of the instance; run's only.
	resolved map[string]resolvedAddr
}

type resolvedAddr struct {
	addr   resolver.Address
	reason string // why gRPC cannot dial it; empty when it can
}

func (r *discoveryResolver) run(ch <-chan core.Update) {
	defer close(r.done)
	for u := range ch {
		r.push(u)
	}
	if r.ctx.Err() == nil {
		// Core ended the watch: the Discovery was closed under a live
		// channel. gRPC keeps the connections it has; say why no update
		// will come.
		r.log.Warn("grpcdiscovery: watch ended because the Discovery was closed; the channel keeps its last addresses")
		r.cc.ReportError(fmt.Errorf("grpcdiscovery: watch of %q ended: %w", r.service, core.ErrClosed))
	}
}

// push hands one list to gRPC. Core sends a list only when it was read from
// the registry, so an empty list here really means no instance is
// registered: it is pushed as such (gRPC then fails calls quickly), with an
// error that names the service. During an outage core sends nothing, and
// gRPC keeps using the last state. Only the instances the change names are
// resolved again; gRPC still takes the whole address list.
func (r *discoveryResolver) push(u core.Update) {
	if u.Reset || r.resolved == nil {
		r.resolved = make(map[string]resolvedAddr, u.List.Len())
		for inst := range u.List.All() {
			r.resolve(inst)
		}
	} else {
		for _, inst := range u.Removed {
			delete(r.resolved, inst.Addr)
		}
		for _, inst := range u.Upserted {
			r.resolve(inst)
		}
	}
	addrs := make([]resolver.Address, 0, u.List.Len())
	seen := make(map[string]bool, u.List.Len())
	for inst := range u.List.All() {
		ra := r.resolved[inst.Addr]
		if ra.reason != "" {
			continue
		}
		if seen[ra.addr.Addr] {
			continue // tcp@ and tcp4@ of one endpoint: one connection is enough
		}
		seen[ra.addr.Addr] = true
		addrs = append(addrs, ra.addr)
	}
	// The error is ignored: gRPC asks for a re-resolution, which a watch
	// does by itself.
	_ = r.cc.UpdateState(resolver.State{Addresses: addrs})
	if len(addrs) == 0 {
		err := fmt.Errorf("grpcdiscovery: no instance of %q is registered", r.service)
		if n := u.List.Len(); n > 0 {
			err = fmt.Errorf("grpcdiscovery: none of the %d instances of %q can be dialled by gRPC (register tcp@host:port)", n, r.service)
		}
		r.cc.ReportError(err)
	}
}

// resolve works out inst's gRPC address, reporting one gRPC cannot dial.
func (r *discoveryResolver) resolve(inst core.Instance) {
	hostPort, reason := dialable(inst)
	if reason != "" {
		if old, seen := r.resolved[inst.Addr]; !seen || old.reason == "" {
			r.log.Warn("grpcdiscovery: skipping instance gRPC cannot dial", "addr", inst.Addr, "reason", reason)
		}
		r.resolved[inst.Addr] = resolvedAddr{reason: reason}
		return
	}
	r.resolved[inst.Addr] = resolvedAddr{addr: resolver.Address{
		Addr:               hostPort,
		BalancerAttributes: attributes.New(instanceKey{}, instanceValue{inst}),
	}}
}

// dialable returns host:port for a tcp instance, or why it cannot be used.
// gRPC's default dialer speaks tcp to a host:port; unix sockets and other
// transports registered for rpcx clients are not reachable that way.
func dialable(inst core.Instance) (string, string) {
	switch n := inst.Network(); n {
	case "tcp", "tcp4", "tcp6":
	default:
		return "", fmt.Sprintf("network %q is not tcp; gRPC dials tcp host:port", n)
	}
	hp := inst.HostPort()
	host, port, err := net.SplitHostPort(hp)
	if err != nil || port == "" {
		return "", fmt.Sprintf("%q is not host:port", hp)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return "", fmt.Sprintf("host %q is not an address a client can dial", host)
	}
	return hp, ""
}

// ResolveNow does nothing: updates are pushed by the registry watch, and
// core reopens a broken watch with backoff without being asked.
func (r *discoveryResolver) ResolveNow(resolver.ResolveNowOptions) {}

// Close ends the watch and returns once the goroutine that calls into gRPC
// has ended, so that nothing outlives it (gRPC closes resolvers each time a
// channel goes idle).
func (r *discoveryResolver) Close() {
	r.cancel()
	<-r.done
}

// instanceKey is the attribute key of the core.Instance behind an address.
type instanceKey struct{}

// instanceValue makes an Instance comparable for attributes.Equal, which
// would panic comparing the Meta maps with ==.
type instanceValue struct{ inst core.Instance }

func (v instanceValue) Equal(o any) bool {
	w, ok := o.(instanceValue)
	return ok && v.inst.Service == w.inst.Service && v.inst.Addr == w.inst.Addr && maps.Equal(v.inst.Meta, w.inst.Meta)
}

func (v instanceValue) String() string {
	return v.inst.Addr + "?" + v.inst.Meta.Encode()
}

// AddressInstance returns the instance (service, network@addr, metadata) an
// address of this package's resolver stands for. It is carried in
// BalancerAttributes rather than Attributes on purpose: Attributes are part
// of a SubConn's identity, and metadata such as the published tps changes
// whenever the load moves; there it would make gRPC reconnect each time.
// The Meta map is shared: treat it as read-only.
func AddressInstance(a resolver.Address) (core.Instance, bool) {
	return fromAttributes(a.BalancerAttributes)
}

// EndpointInstance is AddressInstance for resolver.Endpoint, where gRPC
// moves each address's BalancerAttributes before handing the state to
// endpoint-based policies.
func EndpointInstance(e resolver.Endpoint) (core.Instance, bool) {
	if inst, ok := fromAttributes(e.Attributes); ok {
		return inst, true
	}
	for _, a := range e.Addresses {
		if inst, ok := AddressInstance(a); ok {
			return inst, true
		}
	}
	return core.Instance{}, false
}

func fromAttributes(a *attributes.Attributes) (core.Instance, bool) {
	v, ok := a.Value(instanceKey{}).(instanceValue)
	return v.inst, ok
}
