package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Registrar is the server side: it keeps instances registered until they are
// deregistered or the Registrar is closed.
type Registrar interface {
	// Register hands inst to the Registrar, which from then on keeps it
	// written: refreshed every interval, and written again, with jittered
	// backoff and without ever giving up, whenever a write fails or the
	// store loses it, until Deregister or Close. Call it once the server
	// listens. Registering the same service and address again replaces its
	// metadata; the writes of one registration are serialised, so the newest
	// metadata is always the one that ends in the store.
	//
	// ctx bounds only how long Register waits for the record to be written:
	//   - nil: written;
	//   - an error wrapping ErrPending: not written yet (the registry is
	//     unreachable, say); the Registrar keeps trying in the background;
	//   - an error wrapping ErrInvalid: refused, nothing is kept;
	//   - ErrClosed: the Registrar is closed.
	Register(ctx context.Context, inst Instance) error
	// Deregister stops refreshing inst and deletes its record.
	Deregister(ctx context.Context, inst Instance) error
	// Meter is the load meter whose rate every registration publishes as tps.
	Meter() *Meter
	// Status reports every registration, sorted by service and address.
	Status() []RegistrationStatus
	// Close stops every registration and deletes their records in parallel,
	// bounded as a whole by Options.DeregisterTimeout. Calls after Close
	// return ErrClosed.
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
	r.stopMetrics = o.instruments.observeRegistrations(r.Status)
	if ln, ok := d.(LossNotifier); ok {
		ln.OnLoss(r.lost)
	}
	return r, nil
}

type registrar struct {
	d     Driver
	o     Options
	meter *Meter

	ctx         context.Context // ends on Close
	cancel      context.CancelFunc
	stopMetrics func()
	wg          sync.WaitGroup

	mu     sync.Mutex
	regs   map[string]*registration
	closed bool
}

func (r *registrar) Meter() *Meter { return r.meter }

func (r *registrar) Register(ctx context.Context, inst Instance) error {
	if err := inst.Validate(); err != nil {
		return err
	}
	if err := validateService(r.d, inst.Service); err != nil {
		return err
	}
	if v, ok := r.d.(InstanceValidator); ok {
		if err := v.ValidateInstance(inst); err != nil {
			return err
		}
	}
	inst.Meta = inst.Meta.Clone()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	g, ok := r.regs[inst.key()]
	if !ok || g.refused() {
		// A refused registration has no loop left: start over.
		g = newRegistration(r, inst)
		r.regs[inst.key()] = g
		r.wg.Add(1)
		go g.run()
	}
	gen := g.setBase(inst)
	r.mu.Unlock()
	return g.await(ctx, gen)
}

// forget drops g if it is still the registration of its instance.
func (r *registrar) forget(g *registration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := g.current().key()
	if r.regs[key] == g {
		delete(r.regs, key)
	}
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
	g, ok := r.regs[inst.key()]
	delete(r.regs, inst.key())
	r.mu.Unlock()
	if ok {
		// Wait for the loop to end, so no write of it lands after the delete.
		g.stop()
		<-g.done
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
	r.wg.Wait() // every loop ended: no write can land after the deletes
	defer r.stopMetrics()
	// One deadline for all deletes, run in parallel: 20 registrations during
	// an outage cost one timeout, not twenty.
	ctx, cancel := context.WithTimeout(context.Background(), r.o.DeregisterTimeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(regs))
	for _, g := range regs {
		wg.Go(func() { errs <- r.deleteRecord(ctx, g.current()) })
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// deleteRecord deletes within ctx, saying in the log what happens instead.
func (r *registrar) deleteRecord(ctx context.Context, inst Instance) error {
	if err := r.d.Delete(ctx, inst); err != nil {
		r.o.Logger.Warn("discovery: deregister failed; the record expires after its ttl",
			"service", inst.Service, "addr", inst.Addr, "ttl", r.o.TTL, "err", err)
		return fmt.Errorf("deregister %s %s: %w", inst.Service, inst.Addr, err)
	}
	return nil
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

func (r *registrar) Status() []RegistrationStatus {
	r.mu.Lock()
	regs := make([]*registration, 0, len(r.regs))
	for _, g := range r.regs {
		regs = append(regs, g)
	}
	r.mu.Unlock()
	out := make([]RegistrationStatus, 0, len(regs))
	for _, g := range regs {
		out = append(out, g.status())
	}
	slices.SortFunc(out, func(a, b RegistrationStatus) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Addr, b.Addr))
	})
	return out
}
