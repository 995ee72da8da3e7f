package grpcdiscovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/selector"
)

// Names of the load-balancing policies this package registers with gRPC.
const (
	// P2C is power of two choices on peak-EWMA latency times in-flight
	// calls, learnt from every call's outcome (selector.NewP2C).
	P2C = "discovery_p2c"
	// Weighted is nginx's smooth weighted round robin on the "weight"
	// metadata (selector.NewWeightedRoundRobin).
	Weighted = "discovery_weighted"
	// ConsistentHash sends the calls of one key, set with WithHashKey, to
	// the same server (selector.NewConsistentHash).
	ConsistentHash = "discovery_consistenthash"
	// LeastTPS prefers, of two random servers, the one publishing the lower
	// "tps" (selector.NewLeastTPS); servers publish it with ServerOptions.
	LeastTPS = "discovery_leasttps"
)

func init() {
	RegisterBalancer(P2C, selector.NewP2C)
	RegisterBalancer(Weighted, selector.NewWeightedRoundRobin)
	RegisterBalancer(ConsistentHash, selector.NewConsistentHash)
	RegisterBalancer(LeastTPS, selector.NewLeastTPS)
}

// RegisterBalancer registers with gRPC a load-balancing policy called name
// that picks with a selector made by newSelector, one per channel (and per
// wake-up from idle mode). Like balancer.Register it must be called at init
// time only; a policy registered later under the same name replaces it.
// Use it for a selector this package does not register, e.g.
//
//	func init() {
//		grpcdiscovery.RegisterBalancer("discovery_closest", func() selector.Selector {
//			s, _ := selector.NewClosest(48.85, 2.35)
//			return s
//		})
//	}
func RegisterBalancer(name string, newSelector func() selector.Selector) {
	balancer.Register(&balancerBuilder{name: name, newSelector: newSelector})
}

// WithBalancer selects the policy called name (P2C, Weighted,
// ConsistentHash, LeastTPS or one added with RegisterBalancer) for the
// channel, unless the resolver supplies a service config; ours does not.
func WithBalancer(name string) grpc.DialOption {
	return grpc.WithDefaultServiceConfig(ServiceConfig(name))
}

// ServiceConfig returns the service config JSON selecting the policy called
// name, for grpc.WithDefaultServiceConfig or a config file.
func ServiceConfig(name string) string {
	return fmt.Sprintf(`{"loadBalancingConfig":[{%q:{}}]}`, name)
}

type hashKeyCtx struct{}

// WithHashKey returns a context whose calls the ConsistentHash policy sends
// to the server that key maps to: every client maps a key to the same
// server, and a server joining or leaving moves about 1/n of the keys.
// Calls without a key are hashed by their full method name.
func WithHashKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, hashKeyCtx{}, key)
}

// HashKey returns the key set by WithHashKey.
func HashKey(ctx context.Context) (string, bool) {
	k, ok := ctx.Value(hashKeyCtx{}).(string)
	return k, ok
}

// balancerBuilder builds one selector per balancer, that is per channel:
// base's PickerBuilder is shared by every channel of a policy, while p2c's
// latency statistics must belong to one channel and outlive its pickers.
type balancerBuilder struct {
	name        string
	newSelector func() selector.Selector
}

func (b *balancerBuilder) Name() string { return b.name }

func (b *balancerBuilder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	pb := &pickerBuilder{sel: b.newSelector(), latest: map[string]core.Instance{}}
	// base manages the SubConns (one per address, reconnecting, health
	// checked when the service config asks for it) and calls pb with the
	// ready ones; HealthCheck as in gRPC's own base-derived policies.
	inner := base.NewBalancerBuilder(b.name, pb, base.Config{HealthCheck: true}).Build(cc, opts)
	return &discoveryBalancer{Balancer: inner, pb: pb}
}

// discoveryBalancer is base's balancer, told the newest metadata first.
type discoveryBalancer struct {
	balancer.Balancer
	pb *pickerBuilder
}

// UpdateClientConnState records each address's current instance before base
// rebuilds the picker. base hands the picker builder the address a SubConn
// was created with, whose metadata is from that time: weights and published
// tps that changed since would never reach the selector.
func (b *discoveryBalancer) UpdateClientConnState(s balancer.ClientConnState) error {
	b.pb.setLatest(s.ResolverState)
	return b.Balancer.UpdateClientConnState(s)
}

type pickerBuilder struct {
	sel selector.Selector

	mu     sync.Mutex // gRPC serialises balancer calls; this is belt and braces
	latest map[string]core.Instance
}

func (pb *pickerBuilder) setLatest(s resolver.State) {
	latest := make(map[string]core.Instance, len(s.Addresses))
	for _, a := range s.Addresses {
		if inst, ok := AddressInstance(a); ok {
			latest[a.Addr] = inst
		}
	}
	for _, e := range s.Endpoints {
		if inst, ok := EndpointInstance(e); ok {
			for _, a := range e.Addresses {
				if _, done := latest[a.Addr]; !done {
					latest[a.Addr] = inst
				}
			}
		}
	}
	pb.mu.Lock()
	pb.latest = latest
	pb.mu.Unlock()
}

// Build updates the channel's one selector with the ready SubConns and
// returns a picker over them. With none ready it leaves the selector alone,
// so that p2c's statistics survive a moment when every connection is down.
func (pb *pickerBuilder) Build(info base.PickerBuildInfo) balancer.Picker {
	if len(info.ReadySCs) == 0 {
		return base.NewErrPicker(balancer.ErrNoSubConnAvailable)
	}
	insts := make([]core.Instance, 0, len(info.ReadySCs))
	conns := make(map[string]balancer.SubConn, len(info.ReadySCs))
	pb.mu.Lock()
	for sc, sci := range info.ReadySCs {
		inst, ok := pb.latest[sci.Address.Addr]
		if !ok {
			// An address from another resolver: no metadata, default weight.
			inst = core.Instance{Addr: "tcp@" + sci.Address.Addr}
		}
		insts = append(insts, inst)
		conns[inst.Addr] = sc
	}
	pb.mu.Unlock()
	slices.SortFunc(insts, func(a, b core.Instance) int { return cmp.Compare(a.Addr, b.Addr) })
	pb.sel.Update(insts)
	return &picker{sel: pb.sel, conns: conns}
}

// picker picks with the channel's selector among the SubConns that were
// ready when it was built.
type picker struct {
	sel   selector.Selector
	conns map[string]balancer.SubConn // by instance address (tcp@host:port)
}

func (p *picker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	key, ok := HashKey(info.Ctx)
	if !ok {
		key = info.FullMethodName
	}
	pick, err := p.sel.Select(key)
	if err != nil {
		// Build never updates the selector with an empty list; wait for the
		// next picker rather than fail the call.
		return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
	}
	sc, ok := p.conns[pick.Instance.Addr]
	if !ok {
		// The selector already holds a newer list than this picker, which
		// gRPC is about to replace: wait for the new one. The pick is given
		// back as a cancelled call, which counts no failure.
		pick.Done(context.Canceled)
		return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
	}
	return balancer.PickResult{
		SubConn: sc,
		Done:    func(di balancer.DoneInfo) { pick.Done(outcome(di.Err)) },
	}, nil
}

// outcome translates a call's gRPC status for the selector's feedback
// (p2c's latency estimate): Canceled and DeadlineExceeded count only the
// time spent; Unavailable, Internal, ResourceExhausted and DataLoss mean the
// server or its connection failed or is overloaded, and push traffic away;
// every other code (NotFound, InvalidArgument, Unknown from a handler's
// plain error…) is the application's answer, and must not.
func outcome(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	s, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch s.Code() {
	case codes.OK:
		return nil
	case codes.Canceled:
		return fmt.Errorf("%w: %w", context.Canceled, err)
	case codes.DeadlineExceeded:
		return fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	case codes.Unavailable, codes.Internal, codes.ResourceExhausted, codes.DataLoss:
		return err // the server or the connection failed, or it is overloaded
	default:
		return selector.Business(err)
	}
}
