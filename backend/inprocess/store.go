package inprocess

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/seedforge/discovery/backend/internal/memwatch"
	"github.com/seedforge/discovery/core"
)

// ErrUnavailable is what every call returns while a test holds the store down.
var ErrUnavailable = errors.New("inprocess: store unavailable")

// Store is one named in-memory registry.
type Store struct {
	name string

	mu       sync.Mutex
	services map[string]*service
	down     error // non-nil: every call fails with it (fault injection)
	downCh   chan struct{}
}

type service struct {
	records map[string]*record // by address
	changes memwatch.Changes
	watches int // open watches, for tests of the shared cache
}

type record struct {
	inst  core.Instance
	timer *time.Timer
}

var (
	storesMu sync.Mutex
	stores   = map[string]*Store{}
)

// Lookup returns the store called name, creating it on first use.
func Lookup(name string) *Store {
	storesMu.Lock()
	defer storesMu.Unlock()
	s, ok := stores[name]
	if !ok {
		s = &Store{name: name, services: map[string]*service{}, downCh: make(chan struct{})}
		stores[name] = s
	}
	return s
}

// svc must be called with s.mu held.
func (s *Store) svc(name string) *service {
	sv, ok := s.services[name]
	if !ok {
		sv = &service{records: map[string]*record{}}
		s.services[name] = sv
	}
	return sv
}

// written and deleted announce a change of sv to its watches, saying what
// changed (for delta watchers). s.mu must be held.
func (sv *service) written(inst core.Instance) {
	sv.changes.Record(core.Change{Put: []core.Instance{inst}})
}

func (sv *service) deleted(addr string) {
	sv.changes.Record(core.Change{Deleted: []string{addr}})
}

func (s *Store) put(inst core.Instance, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down != nil {
		return s.down
	}
	sv := s.svc(inst.Service)
	if old, ok := sv.records[inst.Addr]; ok {
		old.timer.Stop()
	}
	inst.Meta = inst.Meta.Clone()
	r := &record{inst: inst}
	r.timer = time.AfterFunc(ttl, func() { s.expire(inst.Service, inst.Addr, r) })
	sv.records[inst.Addr] = r
	sv.written(inst)
	return nil
}

func (s *Store) keepAlive(inst core.Instance, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down != nil {
		return s.down
	}
	r, ok := s.svc(inst.Service).records[inst.Addr]
	if !ok {
		return fmt.Errorf("inprocess %s: %s %s: %w", s.name, inst.Service, inst.Addr, core.ErrNotFound)
	}
	r.timer.Reset(ttl)
	return nil
}

// expire removes r if it is still the current record of its address: a timer
// that fired just as a Put replaced the record must not delete the new one.
func (s *Store) expire(service, addr string, r *record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv := s.svc(service)
	if sv.records[addr] == r {
		delete(sv.records, addr)
		sv.deleted(addr)
	}
}

// remove deletes a record; s.mu must be held.
func (s *Store) remove(service, addr string) {
	sv := s.svc(service)
	if r, ok := sv.records[addr]; ok {
		r.timer.Stop()
		delete(sv.records, addr)
		sv.deleted(addr)
	}
}

// list returns a fresh copy of service's instances. s.mu must be held.
func (s *Store) list(service string) []core.Instance {
	sv := s.svc(service)
	out := make([]core.Instance, 0, len(sv.records))
	for _, r := range sv.records {
		out = append(out, r.inst)
	}
	return out
}

// Remove deletes a record behind its owner's back, as an operator might.
func (s *Store) Remove(service, addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(service, addr)
}

// SetDown makes every call fail with ErrUnavailable and breaks open watches,
// as an unreachable registry would; SetDown(false) brings it back. Records
// keep their timers, so a long outage lets them expire, as a real one does.
func (s *Store) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case down && s.down == nil:
		s.down = ErrUnavailable
		close(s.downCh)
	case !down && s.down != nil:
		s.down = nil
		s.downCh = make(chan struct{})
	}
}

// Watches returns how many watches are open on service.
func (s *Store) Watches(service string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.svc(service).watches
}

// Instances returns the stored instances of service, for tests.
func (s *Store) Instances(service string) []core.Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.list(service)
}
