package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/smallnest/rpcx/client"
	"github.com/smallnest/rpcx/protocol"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/selector"
)

const serializeJSON = int(protocol.JSON)

// callRPCX sends c to inst as a raw rpcx message: the body travels as is,
// with c's serialize type (JSON for the micro routes), which rpcx servers
// decode into the method's argument type themselves.
func (g *Gateway) callRPCX(ctx context.Context, inst core.Instance, c *call) (*reply, error) {
	cl, err := g.rpcx.get(inst)
	if err != nil {
		return nil, &notSentError{err}
	}
	msg := protocol.NewMessage()
	msg.SetMessageType(protocol.Request)
	msg.SetSerializeType(protocol.SerializeType(c.serializeType))
	// SendRaw takes the message id from the message: one counter for the
	// whole gateway keeps ids unique on every connection.
	msg.SetSeq(g.seq.Add(1))
	msg.ServicePath, msg.ServiceMethod = c.service, c.method
	msg.Metadata = c.meta
	msg.Payload = c.body
	meta, payload, err := cl.SendRaw(ctx, msg)
	if err != nil {
		var se client.ServiceError
		if errors.As(err, &se) && se.IsServiceError() {
			return nil, selector.Business(rpcxServiceError(err.Error()))
		}
		if cl.IsShutdown() || cl.IsClosing() {
			g.rpcx.drop(inst.Addr, cl)
		}
		return nil, err
	}
	return &reply{body: payload, meta: meta}, nil
}

// rpcxServiceError sorts an rpcx server's error text: the server's own
// lookups and argument decoding fail with fixed texts; anything else is the
// method's error.
func rpcxServiceError(text string) error {
	switch {
	case strings.HasPrefix(text, "rpcx: can't find service"), strings.HasPrefix(text, "rpcx: can't find method"):
		return &statusError{http.StatusNotFound, text, nil}
	case strings.HasPrefix(text, "json: "), strings.HasPrefix(text, "invalid character"), strings.HasPrefix(text, "can not find codec"):
		return &statusError{http.StatusBadRequest, "request does not fit the method's argument type: " + text, nil}
	}
	return &businessError{text}
}

// rpcxPool holds one rpcx connection per server address; rpcx multiplexes
// concurrent calls on it.
type rpcxPool struct {
	mu     sync.Mutex
	conns  map[string]*client.Client
	closed bool
}

func newRPCXPool() *rpcxPool { return &rpcxPool{conns: map[string]*client.Client{}} }

var errPoolClosed = errors.New("gateway: closed")

// get returns a live connection to inst, dialling one if needed. Dials run
// outside the lock (they take up to the connect timeout); a race between
// two dials keeps the first.
func (p *rpcxPool) get(inst core.Instance) (*client.Client, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errPoolClosed
	}
	if cl, ok := p.conns[inst.Addr]; ok && !cl.IsShutdown() && !cl.IsClosing() {
		p.mu.Unlock()
		return cl, nil
	}
	p.mu.Unlock()

	cl := client.NewClient(client.DefaultOption)
	if err := cl.Connect(inst.Network(), inst.HostPort()); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		cl.Close()
		return nil, errPoolClosed
	}
	if old, ok := p.conns[inst.Addr]; ok && !old.IsShutdown() && !old.IsClosing() {
		cl.Close()
		return old, nil
	} else if ok {
		old.Close()
	}
	p.conns[inst.Addr] = cl
	return cl, nil
}

// drop closes cl if it is still the connection of addr.
func (p *rpcxPool) drop(addr string, cl *client.Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns[addr] == cl {
		delete(p.conns, addr)
		cl.Close()
	}
}

// forget closes the connection to an address no service lists any more.
func (p *rpcxPool) forget(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cl, ok := p.conns[addr]; ok {
		delete(p.conns, addr)
		cl.Close()
	}
}

func (p *rpcxPool) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for addr, cl := range p.conns {
		cl.Close()
		delete(p.conns, addr)
	}
	return nil
}
