package core

import (
	"errors"
	"sync"
	"time"
)

// RegistrationState says where a registration stands.
type RegistrationState string

const (
	// StateRegistered: the record is written and kept alive.
	StateRegistered RegistrationState = "registered"
	// StateRetrying: the record is not written (not yet, or lost) and the
	// Registrar keeps trying with backoff.
	StateRetrying RegistrationState = "retrying"
	// StateRefused: the store refused the record as invalid; nothing is
	// retried until the instance is registered again.
	StateRefused RegistrationState = "refused"
)

// RegistrationStatus is what Registrar.Status reports per registration.
type RegistrationStatus struct {
	Service string            `json:"service"`
	Addr    string            `json:"addr"`
	State   RegistrationState `json:"state"`
	// Since is when State began: "retrying since T".
	Since time.Time `json:"since"`
	// LastError is the text of the last failed write (with the registry
	// URL's secrets hidden), empty once a write succeeded.
	LastError string `json:"last_error,omitempty"`
	// LastWrite is when a write (Put or KeepAlive) last succeeded; zero if
	// none did yet.
	LastWrite time.Time `json:"last_write,omitzero"`
}

// errRecordLost is the last error after the driver reported the record gone.
var errRecordLost = errors.New("the store dropped the record (session or lease lost)")

// regState is the state of one registration. Every change of State goes
// through setState, the one place that logs transitions (and where metrics
// hook in).
type regState struct {
	mu        sync.Mutex
	base      Instance // what the user registered
	gen       uint64   // bumped by every Register of the instance
	published Metadata // load keys last written
	since     int      // refreshes since load keys were last written
	drained   bool     // an operator drained the record (drain.go)

	writtenGen, refusedGen uint64 // newest generation written / refused
	state                  RegistrationState
	stateSince, lastWrite  time.Time
	lastErr                error
	failures               int           // failed writes since the last success
	changed                chan struct{} // closed and replaced on each record
}

func (s *regState) init(inst Instance) {
	s.base = inst
	s.state, s.stateSince = StateRetrying, time.Now()
	s.changed = make(chan struct{})
}

// record notes the outcome of one write of generation gen and wakes the
// callers waiting in Register.
func (s *regState) record(o Options, err error, put bool, gen uint64, load Metadata) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	switch {
	case err == nil:
		s.lastWrite, s.lastErr = now, nil
		if put {
			s.writtenGen = max(s.writtenGen, gen)
			s.published, s.since = load, 0
		}
		s.setState(o, StateRegistered, now)
	case errors.Is(err, ErrInvalid):
		s.refusedGen, s.lastErr = max(s.refusedGen, gen), err
		s.setState(o, StateRefused, now)
	default:
		s.lastErr = err
		s.failures++
		s.setState(o, StateRetrying, now)
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// recordLost notes that the driver reported the record gone.
func (s *regState) recordLost(o Options) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastErr = errRecordLost
	if s.state == StateRegistered {
		s.setState(o, StateRetrying, time.Now())
	}
}

// setState moves to state; s.mu is held. Every change of state after the
// initial "retrying" (set by init) goes through here.
func (s *regState) setState(o Options, state RegistrationState, now time.Time) {
	if s.state == state {
		return
	}
	prev, since := s.state, s.stateSince
	s.state, s.stateSince = state, now
	switch {
	case state == StateRegistered && s.failures > 0:
		o.Logger.Info("discovery: registration written after retrying", "service", s.base.Service, "addr", s.base.Addr,
			"failed_attempts", s.failures, "retried_for", now.Sub(since).Round(time.Millisecond), "previous_state", prev)
	case state == StateRefused:
		o.Logger.Error("discovery: registration refused; not retried", "service", s.base.Service, "addr", s.base.Addr, "err", s.lastErr)
	}
	if state == StateRegistered {
		s.failures = 0
	}
}

func (s *regState) snapshot(secrets []string) RegistrationStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := RegistrationStatus{Service: s.base.Service, Addr: s.base.Addr, State: s.state,
		Since: s.stateSince, LastWrite: s.lastWrite}
	if s.lastErr != nil {
		st.LastError = errorText(s.lastErr, secrets)
	}
	return st
}
