package grpcdiscovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	"github.com/seedforge/discovery/core"
)

// RegisterOption configures Register.
type RegisterOption func(*registerConfig)

type registerConfig struct {
	advertise string
}

// WithAdvertiseAddr sets the address clients dial, instead of the
// listener's: needed when the server listens on all interfaces (":50051",
// "0.0.0.0:50051"), behind NAT, or in a container. It takes "host:port",
// "tcp@host:port", or a bare "host" that keeps the listener's port.
func WithAdvertiseAddr(addr string) RegisterOption {
	return func(c *registerConfig) { c.advertise = addr }
}

// Register registers the gRPC service called service, served on lis, with
// meta, and keeps it registered (core refreshes it and writes it again after
// registry outages) until the returned function or reg.Close deregisters it.
// Call it once lis listens; connections that arrive before Serve wait in the
// listen queue. The name is what clients dial (discovery:///service); a
// server with several services registers each, e.g. under its full gRPC
// name "helloworld.Greeter".
//
// The record carries protocol=grpc (core.MetaProtocol) unless meta sets
// it, so that clients speaking several protocols, such as the HTTP
// gateway, call it over gRPC.
//
// The address is tcp@host:port from lis, unless WithAdvertiseAddr is given
// (then lis may be nil). A listener on an unspecified address is an error:
// the registry would hand clients "0.0.0.0", which reaches nothing.
//
// ctx bounds only the wait for the first write. When it ends first (the
// registry is unreachable), Register returns an error wrapping
// core.ErrPending together with a usable deregister function: the
// registration is kept and written as soon as the registry answers, so a
// server may serve on (reg.Status says when it is written). Any other error
// means nothing was registered.
//
// The returned deregister function is safe to call more than once and from
// several goroutines; only the first call deregisters. Deregister before
// GracefulStop, so that clients stop picking the server while it drains.
func Register(ctx context.Context, reg core.Registrar, service string, lis net.Listener, meta core.Metadata, opts ...RegisterOption) (deregister func(context.Context) error, err error) {
	var c registerConfig
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	addr, err := advertisedAddr(lis, c.advertise)
	if err != nil {
		return nil, err
	}
	if meta[core.MetaProtocol] == "" {
		meta = meta.Clone()
		meta[core.MetaProtocol] = core.ProtocolGRPC // so that multi-protocol clients (the gateway) know
	}
	inst := core.Instance{Service: service, Addr: addr, Meta: meta}
	if err := inst.Validate(); err != nil {
		return nil, fmt.Errorf("grpcdiscovery: register %s: %w", service, err)
	}
	err = reg.Register(ctx, inst)
	if err != nil && !errors.Is(err, core.ErrPending) {
		return nil, fmt.Errorf("grpcdiscovery: register %s at %s: %w", service, addr, err)
	}
	var (
		once sync.Once
		derr error
	)
	deregister = func(ctx context.Context) error {
		once.Do(func() { derr = reg.Deregister(ctx, inst) })
		return derr
	}
	if err != nil {
		return deregister, fmt.Errorf("grpcdiscovery: register %s at %s: %w", service, addr, err)
	}
	return deregister, nil
}

// advertisedAddr returns tcp@host:port for the registry.
func advertisedAddr(lis net.Listener, advertise string) (string, error) {
	var port string
	if lis != nil {
		tcp, ok := lis.Addr().(*net.TCPAddr)
		if !ok {
			return "", fmt.Errorf("%w: grpcdiscovery: listener %s %s is not tcp; gRPC clients of the registry dial tcp host:port",
				core.ErrInvalid, lis.Addr().Network(), lis.Addr())
		}
		if advertise == "" {
			if tcp.IP == nil || tcp.IP.IsUnspecified() {
				return "", fmt.Errorf("%w: grpcdiscovery: listener %s is on all interfaces, an address no client can dial: "+
					"pass grpcdiscovery.WithAdvertiseAddr(\"host:port\") with the address clients reach this server at, "+
					"or listen on that address", core.ErrInvalid, tcp)
			}
			return "tcp@" + tcp.String(), nil
		}
		port = fmt.Sprint(tcp.Port)
	} else if advertise == "" {
		return "", fmt.Errorf("%w: grpcdiscovery: no listener and no advertised address: pass one of them", core.ErrInvalid)
	}

	a := advertise
	if network, rest, ok := strings.Cut(a, "@"); ok {
		if network != "tcp" && network != "tcp4" && network != "tcp6" {
			return "", fmt.Errorf("%w: grpcdiscovery: advertised address %q is not tcp; gRPC clients dial tcp host:port", core.ErrInvalid, advertise)
		}
		a = rest
	}
	host, p, err := net.SplitHostPort(a)
	if err != nil {
		if port == "" {
			return "", fmt.Errorf("%w: grpcdiscovery: advertised address %q has no port and there is no listener to take it from; write host:port", core.ErrInvalid, advertise)
		}
		host, p = strings.Trim(a, "[]"), port
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return "", fmt.Errorf("%w: grpcdiscovery: advertised address %q has no host a client can dial", core.ErrInvalid, advertise)
	}
	if p == "" || p == "0" {
		return "", fmt.Errorf("%w: grpcdiscovery: advertised address %q needs a port", core.ErrInvalid, advertise)
	}
	return "tcp@" + net.JoinHostPort(host, p), nil
}

// ServerOptions returns the interceptors and stats handler that feed reg's
// load meter, to pass to grpc.NewServer. The interceptors are added with
// grpc.ChainUnaryInterceptor and grpc.ChainStreamInterceptor, so they
// combine with the server's own interceptors instead of replacing them.
func ServerOptions(reg core.Registrar) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(UnaryServerInterceptor(reg)),
		grpc.ChainStreamInterceptor(StreamServerInterceptor(reg)),
		grpc.StatsHandler(StatsHandler(reg)),
	}
}

// UnaryServerInterceptor marks reg's meter once per call, when the call
// arrives, so that the tps every registration publishes (and the LeastTPS
// policy reads) is the server's real load, failed calls included.
func UnaryServerInterceptor(reg core.Registrar) grpc.UnaryServerInterceptor {
	m := reg.Meter()
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		m.Mark()
		return handler(ctx, req)
	}
}

// StreamServerInterceptor marks reg's meter once per stream.
func StreamServerInterceptor(reg core.Registrar) grpc.StreamServerInterceptor {
	m := reg.Meter()
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		m.Mark()
		return handler(srv, ss)
	}
}

// StatsHandler counts the server's open connections in reg's meter, which
// registrations publish as "connections". Interceptors see calls only.
func StatsHandler(reg core.Registrar) stats.Handler { return connCounter{reg.Meter()} }

type connCounter struct{ m *core.Meter }

func (c connCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (c connCounter) HandleRPC(context.Context, stats.RPCStats)                         {}
func (c connCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (c connCounter) HandleConn(_ context.Context, s stats.ConnStats) {
	if s.IsClient() {
		return
	}
	switch s.(type) {
	case *stats.ConnBegin:
		c.m.ConnOpened()
	case *stats.ConnEnd:
		c.m.ConnClosed()
	}
}
