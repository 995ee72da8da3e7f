package core

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"time"
)

// registration is one instance kept written by its own goroutine, run.
// Every write of the instance (Put, KeepAlive) is made by that goroutine
// alone, so writes are ordered: a metadata change can never be overwritten
// by an older refresh. Register asks run to write and waits for the result.
type registration struct {
	r     *registrar
	ctx   context.Context // ends on Deregister or Close
	stop  context.CancelFunc
	done  chan struct{} // closed when run returned
	kick  chan struct{} // new metadata: write now
	lost  chan struct{} // the driver reported the record gone
	state regState      // guarded by mu; see status.go
	// lastPut is the record as this registration last wrote it, for a
	// ConditionalPutter's comparison; nil when unknown or lost. Only run's
	// goroutine touches it.
	lastPut *Instance
}

func newRegistration(r *registrar, inst Instance) *registration {
	ctx, stop := context.WithCancel(r.ctx)
	g := &registration{r: r, ctx: ctx, stop: stop,
		done: make(chan struct{}), kick: make(chan struct{}, 1), lost: make(chan struct{}, 1)}
	g.state.init(inst)
	return g
}

// setBase records the metadata the user wants stored and wakes run to
// write it. It returns the generation that a write must reach. Registering
// the same metadata again writes nothing: the caller waits for the pending
// write, if any.
func (g *registration) setBase(inst Instance) uint64 {
	g.state.mu.Lock()
	if g.state.gen > 0 && maps.Equal(g.state.base.Meta, inst.Meta) {
		defer g.state.mu.Unlock()
		return g.state.gen
	}
	g.state.base = inst
	g.state.gen++
	gen := g.state.gen
	g.state.mu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default: // a write is already requested; it will read the newest base
	}
	return gen
}

// await waits until generation gen is written, refused, or ctx ends.
func (g *registration) await(ctx context.Context, gen uint64) error {
	for {
		s := &g.state
		s.mu.Lock()
		written, refused, lastErr, changed := s.writtenGen >= gen, s.refusedGen >= gen, s.lastErr, s.changed
		inst := s.base
		s.mu.Unlock()
		switch {
		case written:
			return nil
		case refused:
			g.r.forget(g) // refused while the caller waited: nothing is kept
			return fmt.Errorf("register %s %s: %w", inst.Service, inst.Addr, lastErr)
		}
		select {
		case <-changed:
		case <-g.done:
			if g.r.ctx.Err() != nil {
				return ErrClosed
			}
			return fmt.Errorf("register %s %s: deregistered before the record was written", inst.Service, inst.Addr)
		case <-ctx.Done():
			if lastErr == nil {
				return fmt.Errorf("register %s %s: %w: %v", inst.Service, inst.Addr, ErrPending, ctx.Err())
			}
			return fmt.Errorf("register %s %s: %w: %v (last error: %v)", inst.Service, inst.Addr, ErrPending, ctx.Err(), lastErr)
		}
	}
}

// run writes the record at once, then refreshes it every interval; when a
// write fails it retries with jittered backoff until it succeeds, however
// long that takes, or until the registration is refused or stopped.
func (g *registration) run() {
	defer g.r.wg.Done()
	defer close(g.done)
	o := g.r.o
	bo := Backoff{Base: o.BackoffBase, Cap: o.BackoffCap}
	timer := time.NewTimer(time.Hour)
	timer.Stop() // the first write is requested through kick
	defer timer.Stop()
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-g.kick:
			timer.Stop()
		case <-g.lost:
			// Write again soon; the random delay spreads the servers that
			// all lost their records at once (a registry restart).
			g.state.recordLost(o)
			g.lastPut = nil
			o.instruments.reRegistered(g.current().Service)
			timer.Reset(rand.N(o.BackoffBase + 1))
			continue
		case <-timer.C:
		}
		err := g.write()
		if g.ctx.Err() != nil {
			return
		}
		switch {
		case err == nil:
			bo.Reset()
			timer.Reset(jitter(o.Interval))
		case errors.Is(err, ErrInvalid):
			return // refused: the state says so; nothing is retried
		default:
			delay := bo.Next()
			inst := g.current()
			o.Logger.Warn("discovery: register failed; retrying", "service", inst.Service, "addr", inst.Addr, "retry_in", delay, "err", err)
			o.instruments.refreshFailed(inst.Service)
			timer.Reset(delay)
		}
	}
}

// write is one registry round trip: a KeepAlive, or a Put when the record
// must be (re)written or its load metadata moved enough to publish. A
// KeepAlive that finds the record gone is followed by a Put at once.
func (g *registration) write() error {
	ctx, cancel := context.WithTimeout(g.ctx, g.r.o.Interval)
	defer cancel()
	s := &g.state
	s.mu.Lock()
	s.since++
	load := g.r.meter.loadMeta()
	inst, gen := s.base, s.gen
	put := s.state != StateRegistered || gen > s.writtenGen || loadChanged(s.published, load, s.since)
	s.mu.Unlock()
	var err error
	if !put {
		err = g.r.d.KeepAlive(ctx, inst, g.r.o.TTL)
		if errors.Is(err, ErrNotFound) {
			g.r.o.Logger.Info("discovery: record lost; registering again", "service", inst.Service, "addr", inst.Addr)
			g.r.o.instruments.reRegistered(inst.Service)
			g.lastPut = nil
			put = true
		}
	}
	if put {
		if load != nil {
			inst.Meta = inst.Meta.Clone()
			maps.Copy(inst.Meta, load)
		}
		err = g.putKeepingDrain(ctx, inst)
	}
	if g.ctx.Err() != nil {
		return err // stopped mid-write: nothing to record
	}
	g.state.record(g.r.o, err, put, gen, load)
	return err
}

func (g *registration) refused() bool {
	g.state.mu.Lock()
	defer g.state.mu.Unlock()
	return g.state.state == StateRefused
}

// current is the instance as last meant to be stored, for the final delete.
func (g *registration) current() Instance {
	g.state.mu.Lock()
	defer g.state.mu.Unlock()
	return g.state.base
}

func (g *registration) status() RegistrationStatus {
	return g.state.snapshot(g.r.o.Secrets)
}
