package rpcxplugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/smallnest/rpcx/protocol"
	"github.com/smallnest/rpcx/server"

	"github.com/seedforge/discovery/core"
)

// ServerOption configures a ServerPlugin.
type ServerOption func(*ServerPlugin)

// WithAddress sets the advertised address (network@host:port). Needed when
// the server listens on all interfaces (0.0.0.0 or [::]), since that is not
// an address clients can dial.
func WithAddress(addr string) ServerOption { return func(p *ServerPlugin) { p.addr = addr } }

// WithMeta adds metadata to every registration; metadata given to rpcx's
// Register for a service wins over it.
func WithMeta(m core.Metadata) ServerOption { return func(p *ServerPlugin) { p.meta = m.Clone() } }

// WithTimeout bounds how long the plugin waits for a registry call: rpcx's
// Register waits for the record to be written, Unregister for its delete.
// A registration not written in time is not lost: core keeps retrying it
// (ErrPending), and the Registrar's Status says when it is written. Default 10s.
func WithTimeout(d time.Duration) ServerOption { return func(p *ServerPlugin) { p.timeout = d } }

// WithLogger sets where registration failures are reported.
func WithLogger(l *slog.Logger) ServerOption { return func(p *ServerPlugin) { p.log = l } }

// ServerPlugin registers an rpcx server's services in a registry.
type ServerPlugin struct {
	srv     *server.Server
	reg     core.Registrar
	addr    string
	meta    core.Metadata
	timeout time.Duration
	log     *slog.Logger

	ctx    context.Context // ends on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	services   map[string]core.Metadata // by service name, as rpcx registered them
	listening  bool
	advertised string // resolved once when the server starts listening
}

// NewServerPlugin adds a plugin to srv that registers its services through
// reg. Call it before registering services on srv. Registration happens once
// srv listens; reg's meter receives the server's calls and connections.
func NewServerPlugin(srv *server.Server, reg core.Registrar, opts ...ServerOption) (*ServerPlugin, error) {
	p := &ServerPlugin{srv: srv, reg: reg, timeout: 10 * time.Second, log: slog.Default(), services: map[string]core.Metadata{}}
	for _, o := range opts {
		o(p)
	}
	if p.addr != "" {
		if err := core.ValidateAddr(p.addr); err != nil {
			return nil, err
		}
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	srv.Plugins.Add(p)
	p.wg.Add(1)
	go p.awaitListen()
	return p, nil
}

// Close stops the plugin's goroutine. The server's Shutdown/Close already
// deregistered the services; the Registrar is the caller's to close.
func (p *ServerPlugin) Close() error {
	p.cancel()
	p.wg.Wait()
	return nil
}

// Address returns the advertised address, once the server listens.
// It never calls into the rpcx server: rpcx holds its own lock while it
// calls Unregister during Shutdown.
func (p *ServerPlugin) Address() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.listening {
		return "", errors.New("rpcxplugin: server is not listening yet")
	}
	return p.advertised, nil
}

// advertised turns a listener address into network@host:port.
func advertised(a net.Addr) (string, error) {
	switch a := a.(type) {
	case *net.TCPAddr:
		if a.IP.IsUnspecified() {
			return "", fmt.Errorf("%w: server listens on all interfaces (%s); advertise a reachable address with rpcxplugin.WithAddress(\"tcp@10.0.0.1:%d\")", core.ErrInvalid, a, a.Port)
		}
		return "tcp@" + a.String(), nil
	case *net.UnixAddr:
		return "unix@" + a.Name, nil
	}
	return a.Network() + "@" + a.String(), nil
}

// awaitListen registers everything recorded so far once rpcx has started
// serving: clients must never find an address nobody listens on.
func (p *ServerPlugin) awaitListen() {
	defer p.wg.Done()
	select {
	case <-p.srv.Started:
	case <-p.ctx.Done():
		return
	}
	addr := p.addr
	if addr == "" {
		a, err := advertised(p.srv.Address())
		if err != nil {
			p.log.Error("rpcxplugin: cannot register", "err", err)
			return
		}
		addr = a
	}
	p.mu.Lock()
	p.listening, p.advertised = true, addr
	pending := make(map[string]core.Metadata, len(p.services))
	for name, m := range p.services {
		pending[name] = m
	}
	p.mu.Unlock()
	for name, m := range pending {
		_ = p.register(name, m) // register logged it
	}
}

func (p *ServerPlugin) instance(name string, m core.Metadata) (core.Instance, error) {
	addr, err := p.Address()
	if err != nil {
		return core.Instance{}, err
	}
	meta := p.meta.Clone()
	for k, v := range m {
		meta[k] = v
	}
	return core.Instance{Service: name, Addr: addr, Meta: meta}, nil
}

func (p *ServerPlugin) register(name string, m core.Metadata) error {
	inst, err := p.instance(name, m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	err = p.reg.Register(ctx, inst)
	switch {
	case errors.Is(err, core.ErrPending):
		// Kept and retried until written: the server is not refused, only
		// not listed yet (a registry still starting, an outage).
		p.log.Warn("rpcxplugin: registry unreachable; registration pending, retrying in the background", "service", name, "err", err)
		return nil
	case err != nil:
		p.log.Error("rpcxplugin: register failed", "service", name, "err", err)
	}
	return err
}

// Register is called by rpcx for every service the server registers.
func (p *ServerPlugin) Register(name string, _ any, metadata string) error {
	m, err := core.ParseMetadata(metadata)
	if err != nil {
		return fmt.Errorf("rpcxplugin: service %s: %w", name, err)
	}
	if err := core.ValidateService(name); err != nil {
		return err
	}
	p.mu.Lock()
	p.services[name] = m
	listening := p.listening
	p.mu.Unlock()
	if !listening {
		return nil // awaitListen registers it
	}
	return p.register(name, m)
}

// RegisterFunction is called by rpcx for every function it registers; the
// registry knows the function's service path.
func (p *ServerPlugin) RegisterFunction(serviceName, _ string, _ any, metadata string) error {
	p.mu.Lock()
	_, known := p.services[serviceName]
	p.mu.Unlock()
	if known {
		return nil
	}
	return p.Register(serviceName, nil, metadata)
}

// Unregister is called by rpcx for every service on Shutdown and when Serve
// returns.
func (p *ServerPlugin) Unregister(name string) error {
	p.mu.Lock()
	m, ok := p.services[name]
	delete(p.services, name)
	listening := p.listening
	p.mu.Unlock()
	if !ok || !listening {
		return nil
	}
	inst, err := p.instance(name, m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	return p.reg.Deregister(ctx, inst)
}

// HandleConnAccept counts a connection into the meter.
func (p *ServerPlugin) HandleConnAccept(c net.Conn) (net.Conn, bool) {
	p.reg.Meter().ConnOpened()
	return c, true
}

// HandleConnClose counts a closed connection.
func (p *ServerPlugin) HandleConnClose(net.Conn) bool {
	p.reg.Meter().ConnClosed()
	return true
}

// PostWriteResponse counts an answered call (heartbeats excluded).
func (p *ServerPlugin) PostWriteResponse(_ context.Context, req *protocol.Message, _ *protocol.Message, _ error) error {
	if req != nil && !req.IsHeartbeat() {
		p.reg.Meter().Mark()
	}
	return nil
}
