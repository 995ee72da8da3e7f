//go:build mdns

package mdns

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/seedforge/discovery/core"
)

func init() {
	core.RegisterBackend(core.Backend{Scheme: "mdns", Open: open,
		Options: []string{"interface", "browse", "query_timeout", "expiry"}})
}

// Defaults of Config's zero fields.
const (
	DefaultDomain       = "local"
	DefaultBrowse       = 5 * time.Second
	DefaultQueryTimeout = time.Second
	// ExpiryPerBrowse is the default expiry in browse intervals.
	ExpiryPerBrowse = 3
)

// Config configures a driver made in code; the URL options map onto it.
type Config struct {
	// Domain is the mDNS domain. Default "local".
	Domain string
	// Interface names the multicast interface ("eth0"). Default: the
	// system's default multicast interface.
	Interface string
	// Browse is how often a watch asks the LAN for its service. Default 5s.
	Browse time.Duration
	// QueryTimeout is how long one browse listens for answers; every browse
	// lasts this long. At most Browse. Default 1s, or Browse if shorter.
	QueryTimeout time.Duration
	// Expiry is how long a watched instance may go unseen before it is gone.
	// At least Browse. Default 3 × Browse.
	Expiry time.Duration
	// Logger receives skipped TXT strings and, at debug level, the library's
	// own log lines. Default slog.Default().
	Logger *slog.Logger
}

// open builds a driver from mdns://DOMAIN?interface=…&browse=…&query_timeout=…&expiry=….
func open(_ context.Context, t core.Target, p *core.Params) (core.Driver, error) {
	if t.User != nil || len(t.Hosts) > 1 || (t.Path != "" && t.Path != "/") {
		return nil, fmt.Errorf("%w: mdns URL %s must name one domain and nothing else: mdns://local?interface=eth0", core.ErrInvalid, core.Redact("mdns://"+t.Raw))
	}
	cfg := Config{Domain: DefaultDomain, Interface: p.String("interface", ""), Logger: t.Logger}
	if len(t.Hosts) == 1 {
		cfg.Domain = t.Hosts[0]
	}
	var err error
	if cfg.Browse, err = p.Duration("browse", DefaultBrowse); err != nil {
		return nil, err
	}
	if cfg.QueryTimeout, err = p.Duration("query_timeout", 0); err != nil {
		return nil, err
	}
	if cfg.Expiry, err = p.Duration("expiry", 0); err != nil {
		return nil, err
	}
	return New(cfg)
}

// New checks cfg and returns a driver. It opens no socket: responders start
// with Put, browses with List and Watch.
func New(cfg Config) (core.Driver, error) {
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain
	}
	domain, err := checkDomain(cfg.Domain)
	if err != nil {
		return nil, err
	}
	cfg.Domain = domain
	if cfg.Browse < 0 || cfg.QueryTimeout < 0 || cfg.Expiry < 0 {
		return nil, fmt.Errorf("%w: mdns: durations must be positive (browse=%v query_timeout=%v expiry=%v)", core.ErrInvalid, cfg.Browse, cfg.QueryTimeout, cfg.Expiry)
	}
	if cfg.Browse == 0 {
		cfg.Browse = DefaultBrowse
	}
	if cfg.QueryTimeout == 0 {
		cfg.QueryTimeout = min(DefaultQueryTimeout, cfg.Browse)
	}
	if cfg.Expiry == 0 {
		cfg.Expiry = ExpiryPerBrowse * cfg.Browse
	}
	if cfg.QueryTimeout > cfg.Browse {
		return nil, fmt.Errorf("%w: mdns: query_timeout=%v exceeds browse=%v; a browse lasts query_timeout, so keep it at most the browse interval",
			core.ErrInvalid, cfg.QueryTimeout, cfg.Browse)
	}
	if cfg.Expiry < cfg.Browse {
		return nil, fmt.Errorf("%w: mdns: expiry=%v is shorter than browse=%v; instances would vanish between browses (default 3 x browse)",
			core.ErrInvalid, cfg.Expiry, cfg.Browse)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &driver{
		cfg:        cfg,
		log:        cfg.Logger,
		libLog:     slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
		closed:     make(chan struct{}),
		responders: map[string]*responder{},
	}
	if cfg.Interface != "" {
		if d.iface, err = net.InterfaceByName(cfg.Interface); err != nil {
			return nil, fmt.Errorf("%w: mdns: interface %q: %v; known interfaces: %s", core.ErrInvalid, cfg.Interface, err, interfaceNames())
		}
	}
	if err := checkMulticastRoute(d.iface); err != nil {
		return nil, err
	}
	return d, nil
}

func interfaceNames() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return "(cannot list: " + err.Error() + ")"
	}
	names := make([]string, len(ifs))
	for i, f := range ifs {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

type driver struct {
	cfg    Config
	iface  *net.Interface // nil: the system default
	log    *slog.Logger
	libLog *log.Logger // the library's log lines, routed to slog at debug

	closeOnce sync.Once
	closed    chan struct{}

	mu         sync.Mutex
	responders map[string]*responder // by service and address
	isClosed   bool
}

// responder answers for one registered instance.
type responder struct {
	srv      *mdns.Server
	zone     *zone
	rec      record
	timer    *time.Timer // stops answering when the ttl passes unrefreshed
	deadline time.Time   // guarded by driver.mu
}

var errClosed = fmt.Errorf("mdns: driver closed: %w", core.ErrClosed)

func key(inst core.Instance) string { return inst.Service + "\x00" + inst.Addr }

// ValidateService implements core.NameValidator: a name that cannot become
// a DNS-SD service type fails at Register and Watch, not in a retry loop.
func (d *driver) ValidateService(service string) error {
	_, err := serviceType(service)
	return err
}

// ValidateInstance implements core.InstanceValidator: a record DNS-SD
// cannot carry (a TXT string over 255 bytes, a message over the limit) is
// refused by Register at once, before core's read of the store, which on
// mDNS is a browse of a whole query timeout.
func (d *driver) ValidateInstance(inst core.Instance) error {
	_, err := newRecord(inst, d.cfg.Domain)
	return err
}

var (
	_ core.NameValidator     = (*driver)(nil)
	_ core.InstanceValidator = (*driver)(nil)
)

func (d *driver) Put(_ context.Context, inst core.Instance, ttl time.Duration) error {
	rec, err := newRecord(inst, d.cfg.Domain)
	if err != nil {
		return err
	}
	if ttl <= 0 {
		return fmt.Errorf("%w: mdns: ttl %v must be positive", core.ErrInvalid, ttl)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.isClosed {
		return errClosed
	}
	k := key(inst)
	if r, ok := d.responders[k]; ok {
		// Same service and address: same names, new TXT. The running
		// responder answers the next query with it.
		r.rec = rec
		r.zone.set(rec, ttl)
		d.extend(r, ttl)
		return nil
	}
	z := newZone(rec, ttl)
	srv, err := mdns.NewServer(&mdns.Config{Zone: z, Iface: d.iface, Logger: d.libLog})
	if err != nil {
		return fmt.Errorf("mdns: start responder for %s %s: %w", inst.Service, inst.Addr, err)
	}
	r := &responder{srv: srv, zone: z, rec: rec}
	r.deadline = time.Now().Add(ttl)
	r.timer = time.AfterFunc(ttl, func() { d.expire(k, r) })
	d.responders[k] = r
	return nil
}

// extend pushes r's end of life to ttl from now; d.mu must be held.
func (d *driver) extend(r *responder, ttl time.Duration) {
	r.deadline = time.Now().Add(ttl)
	r.timer.Reset(ttl)
}

// expire stops answering for a record whose ttl passed without a refresh.
func (d *driver) expire(k string, r *responder) {
	d.mu.Lock()
	if d.responders[k] != r || time.Now().Before(r.deadline) {
		d.mu.Unlock() // replaced, deleted, or refreshed as the timer fired
		return
	}
	delete(d.responders, k)
	d.mu.Unlock()
	r.srv.Shutdown()
}

func (d *driver) KeepAlive(_ context.Context, inst core.Instance, ttl time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.isClosed {
		return errClosed
	}
	r, ok := d.responders[key(inst)]
	if !ok {
		return fmt.Errorf("mdns: no responder for %s %s in this process: %w", inst.Service, inst.Addr, core.ErrNotFound)
	}
	r.zone.setTTL(ttl)
	d.extend(r, ttl)
	return nil
}

func (d *driver) Delete(_ context.Context, inst core.Instance) error {
	r := d.drop(inst)
	if r != nil {
		d.goodbye(r.rec)
	}
	return nil
}

// drop stops answering for inst without a goodbye and returns its responder.
func (d *driver) drop(inst core.Instance) *responder {
	d.mu.Lock()
	r, ok := d.responders[key(inst)]
	delete(d.responders, key(inst))
	d.mu.Unlock()
	if !ok {
		return nil
	}
	r.timer.Stop()
	r.srv.Shutdown()
	return r
}

var (
	groupV4 = &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}
	groupV6 = &net.UDPAddr{IP: net.ParseIP("ff02::fb"), Port: 5353}
)

// goodbye multicasts the instance's PTR record with TTL 0 (RFC 6762 §10.1)
// from port 5353, as responses must come from. Only the PTR: the library's
// browsers ignore TTLs and would take a full record set as a sighting.
// Best effort: a failure leaves caches to expire the record.
func (d *driver) goodbye(rec record) {
	m := dns.Msg{MsgHdr: dns.MsgHdr{Response: true, Authoritative: true}, Answer: []dns.RR{&dns.PTR{
		Hdr: dns.RR_Header{Name: rec.service, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 0},
		Ptr: rec.name,
	}}}
	buf, err := m.Pack()
	if err != nil {
		d.log.Debug("mdns: goodbye not sent", "name", rec.name, "err", err)
		return
	}
	for _, g := range []struct {
		network string
		addr    *net.UDPAddr
	}{{"udp4", groupV4}, {"udp6", groupV6}} {
		c, err := net.ListenMulticastUDP(g.network, d.iface, g.addr)
		if err != nil {
			d.log.Debug("mdns: goodbye not sent", "network", g.network, "name", rec.name, "err", err)
			continue
		}
		// Go turns multicast loopback off on these sockets; browsers on
		// this host need it on.
		if g.network == "udp4" {
			err = ipv4.NewPacketConn(c).SetMulticastLoopback(true)
		} else {
			err = ipv6.NewPacketConn(c).SetMulticastLoopback(true)
		}
		if err == nil {
			_, err = c.WriteToUDP(buf, g.addr)
		}
		if err != nil {
			d.log.Debug("mdns: goodbye not sent", "network", g.network, "name", rec.name, "err", err)
		}
		c.Close()
	}
}

func (d *driver) List(ctx context.Context, service string) ([]core.Instance, error) {
	typ, err := serviceType(service)
	if err != nil {
		return nil, err
	}
	if d.isDone() {
		return nil, errClosed
	}
	found, err := d.browse(ctx, service, typ, func(name, txt, reason string) {
		d.log.Warn("mdns: skipping bad TXT string", "service", service, "instance", name, "txt", txt, "reason", reason)
	})
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err // the browse was cut short
	}
	list := make([]core.Instance, 0, len(found))
	for _, in := range found {
		list = append(list, in)
	}
	return list, nil
}

func (d *driver) Watch(ctx context.Context, service string) (core.Watcher, error) {
	typ, err := serviceType(service)
	if err != nil {
		return nil, err
	}
	if d.isDone() {
		return nil, errClosed
	}
	return &watcher{d: d, ctx: ctx, service: service, typ: typ, stop: make(chan struct{}),
		seen: map[string]sighting{}, warned: map[string]bool{}}, nil
}

func (d *driver) isDone() bool {
	select {
	case <-d.closed:
		return true
	default:
		return false
	}
}

// Close stops every responder, without goodbyes: as after a crash, browsers
// drop the instances once they stop answering.
func (d *driver) Close() error {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.isClosed = true
		rs := d.responders
		d.responders = nil
		d.mu.Unlock()
		close(d.closed)
		var errs []error
		for _, r := range rs {
			r.timer.Stop()
			errs = append(errs, r.srv.Shutdown())
		}
		if err := errors.Join(errs...); err != nil {
			d.log.Debug("mdns: closing responders", "err", err)
		}
	})
	return nil
}
