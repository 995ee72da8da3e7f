package core

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"time"
)

// Registrar is the server side: it keeps instances registered until they are
// deregistered or the Registrar is closed.
type Registrar interface {
	// Register writes inst and keeps it alive: refreshed every interval, and
	// written again, with jittered backoff and without ever giving up, whenever
	// the store loses it. Call it once the server listens. It blocks until the
	// first write succeeded or ctx ends (retrying meanwhile). Registering the
	// same service and address again replaces its metadata.
	Register(ctx context.Context, inst Instance) error
	// Deregister stops refreshing inst and deletes its record.
	Deregister(ctx context.Context, inst Instance) error
	// Meter is the load meter whose rate every registration publishes as tps.
	Meter() *Meter
	// Close deregisters every instance, bounded by Options.DeregisterTimeout,
	// and stops all goroutines. Calls after Close return ErrClosed.
	Close() error
}

// NewRegistrar applies core's registration policy on top of d.
// The caller keeps ownership of d and closes it after the Registrar.
func NewRegistrar(d Driver, o Options) (Registrar, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &registrar{d: d, o: o, meter: NewMeter(), ctx: ctx, cancel: cancel, regs: map[string]*registration{}}
	if ln, ok := d.(LossNotifier); ok {
		ln.OnLoss(r.lost)
	}
	return r, nil
}

// lost wakes every registration to write its record again.
func (r *registrar) lost() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.regs {
		select {
		case g.lost <- struct{}{}:
		default: // already pending
		}
	}
}

type registrar struct {
	d     Driver
	o     Options
	meter *Meter

	ctx    context.Context // ends on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	regs   map[string]*registration
	closed bool
}

// registration is one instance kept alive by its own goroutine.
type registration struct {
	r    *registrar
	stop context.CancelFunc
	done chan struct{}
	lost chan struct{} // the driver reported the record gone

	mu        sync.Mutex
	base      Instance // what the user registered
	dirty     bool     // base changed since the last successful Put
	published Metadata // load keys last written
	since     int      // refreshes since load keys were last written
}

func (r *registrar) Meter() *Meter { return r.meter }

func (r *registrar) Register(ctx context.Context, inst Instance) error {
	if err := inst.Validate(); err != nil {
		return err
	}
	if err := validateService(r.d, inst.Service); err != nil {
		return err
	}
	inst.Meta = inst.Meta.Clone()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	if reg, ok := r.regs[inst.key()]; ok {
		r.mu.Unlock()
		return reg.replace(ctx, inst)
	}
	r.mu.Unlock()

	reg := &registration{r: r, base: inst, done: make(chan struct{}), lost: make(chan struct{}, 1)}
	if err := reg.firstPut(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		// Closed while we were writing: undo, so nothing outlives Close.
		r.deleteRecord(inst)
		return ErrClosed
	}
	if other, ok := r.regs[inst.key()]; ok {
		// A concurrent Register of the same instance won; hand it our metadata.
		other.setBase(inst)
		return nil
	}
	loopCtx, stop := context.WithCancel(r.ctx)
	reg.stop = stop
	r.regs[inst.key()] = reg
	r.wg.Add(1)
	go reg.run(loopCtx)
	return nil
}

func (r *registrar) Deregister(ctx context.Context, inst Instance) error {
	if err := inst.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	reg, ok := r.regs[inst.key()]
	delete(r.regs, inst.key())
	r.mu.Unlock()
	if ok {
		reg.stop()
		<-reg.done
	}
	if err := r.d.Delete(ctx, inst); err != nil {
		return fmt.Errorf("deregister %s %s: %w", inst.Service, inst.Addr, err)
	}
	return nil
}

func (r *registrar) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	regs := r.regs
	r.regs = nil
	r.mu.Unlock()

	r.cancel()
	r.wg.Wait()
	var errs []error
	for _, reg := range regs {
		if err := r.deleteRecord(reg.current()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// deleteRecord deletes with the bounded deregister timeout.
func (r *registrar) deleteRecord(inst Instance) error {
	ctx, cancel := context.WithTimeout(context.Background(), r.o.DeregisterTimeout)
	defer cancel()
	if err := r.d.Delete(ctx, inst); err != nil {
		r.o.Logger.Warn("discovery: deregister failed; the record expires after its ttl",
			"service", inst.Service, "addr", inst.Addr, "ttl", r.o.TTL, "err", err)
		return fmt.Errorf("deregister %s %s: %w", inst.Service, inst.Addr, err)
	}
	return nil
}

// firstPut writes the record, retrying with backoff until it lands or ctx ends.
func (g *registration) firstPut(ctx context.Context) error {
	o := g.r.o
	bo := Backoff{Base: o.BackoffBase, Cap: o.BackoffCap}
	for {
		err := g.put(ctx)
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrInvalid) {
			return err
		}
		delay := bo.Next()
		o.Logger.Warn("discovery: register failed; retrying", "service", g.base.Service, "addr", g.base.Addr, "retry_in", delay, "err", err)
		if !sleep(ctx, delay) {
			return fmt.Errorf("register %s %s: %w (last error: %w)", g.base.Service, g.base.Addr, ctx.Err(), err)
		}
		select {
		case <-g.r.ctx.Done():
			return ErrClosed
		default:
		}
	}
}

// run refreshes the record every interval; when a refresh fails it writes the
// record again with jittered backoff until it succeeds, however long it takes.
func (g *registration) run(ctx context.Context) {
	defer g.r.wg.Done()
	defer close(g.done)
	o := g.r.o
	bo := Backoff{Base: o.BackoffBase, Cap: o.BackoffCap}
	healthy := true
	timer := time.NewTimer(jitter(o.Interval))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.lost:
			// Write again soon; the random delay spreads the servers that
			// all lost their records at once (a registry restart).
			healthy = false
			timer.Stop()
			timer.Reset(rand.N(o.BackoffBase + 1))
			continue
		case <-timer.C:
		}
		err := g.refresh(ctx, healthy)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if !healthy {
				o.Logger.Info("discovery: registration restored", "service", g.base.Service, "addr", g.base.Addr)
			}
			healthy = true
			bo.Reset()
			timer.Reset(jitter(o.Interval))
			continue
		}
		healthy = false
		delay := bo.Next()
		o.Logger.Warn("discovery: refresh failed; registering again", "service", g.base.Service, "addr", g.base.Addr, "retry_in", delay, "err", err)
		timer.Reset(delay)
	}
}

// refresh is one registry round trip: a KeepAlive, or a Put when the record
// must be (re)written or its load metadata moved enough to publish.
// A KeepAlive that finds the record gone is followed by a Put at once.
func (g *registration) refresh(ctx context.Context, healthy bool) error {
	ctx, cancel := context.WithTimeout(ctx, g.r.o.Interval)
	defer cancel()
	g.mu.Lock()
	g.since++
	fresh := g.r.meter.loadMeta()
	write := !healthy || g.dirty || loadChanged(g.published, fresh, g.since)
	inst := g.base
	g.mu.Unlock()
	if !write {
		err := g.r.d.KeepAlive(ctx, inst, g.r.o.TTL)
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		g.r.o.Logger.Info("discovery: record lost; registering again", "service", inst.Service, "addr", inst.Addr)
	}
	return g.put(ctx)
}

// put writes the user's metadata plus the current load keys.
func (g *registration) put(ctx context.Context) error {
	g.mu.Lock()
	load := g.r.meter.loadMeta()
	inst := g.base
	g.dirty = false
	if load != nil {
		inst.Meta = inst.Meta.Clone()
		maps.Copy(inst.Meta, load)
	}
	g.mu.Unlock()
	if err := g.r.d.Put(ctx, inst, g.r.o.TTL); err != nil {
		g.mu.Lock()
		g.dirty = true
		g.mu.Unlock()
		return err
	}
	g.mu.Lock()
	g.published, g.since = load, 0
	g.mu.Unlock()
	return nil
}

// replace handles Register of an instance already registered: new metadata
// is written now, synchronously, and kept by the refresh loop.
func (g *registration) replace(ctx context.Context, inst Instance) error {
	g.setBase(inst)
	return g.put(ctx)
}

func (g *registration) setBase(inst Instance) {
	g.mu.Lock()
	g.base, g.dirty = inst, true
	g.mu.Unlock()
}

// current is the instance as last meant to be stored, for the final delete.
func (g *registration) current() Instance {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.base
}
