package core

import (
	"slices"
	"strings"
	"time"
)

// WatchState says where the shared watch of a service stands.
type WatchState string

const (
	// WatchStarting: no list was read yet.
	WatchStarting WatchState = "starting"
	// WatchHealthy: the store watch is open and delivered.
	WatchHealthy WatchState = "healthy"
	// WatchStale: the store watch broke; subscribers keep the last list
	// while it is reopened with backoff.
	WatchStale WatchState = "stale"
)

// ServiceStatus is what Discovery.WatchStatus reports per watched service.
type ServiceStatus struct {
	Service string     `json:"service"`
	State   WatchState `json:"state"`
	// Since is when State began: "stale since T".
	Since time.Time `json:"since"`
	// LastError is the text of the last watch failure, with URL secrets
	// hidden and bounded in size; it stays after the watch recovers.
	LastError string `json:"last_error,omitempty"`
	// Instances is the size of the list subscribers have (before filters).
	Instances   int `json:"instances"`
	Subscribers int `json:"subscribers"`
	// Preserving is true while self-preservation holds back a mass loss,
	// since PreservingSince; Holds counts the holds started.
	Preserving      bool      `json:"preserving,omitempty"`
	PreservingSince time.Time `json:"preserving_since,omitzero"`
	Holds           uint64    `json:"holds,omitempty"`
}

// watchHealth is the status part of a serviceWatch, guarded by its lock.
type watchHealth struct {
	state   WatchState
	since   time.Time
	lastErr string
}

func (h *watchHealth) set(state WatchState, now time.Time) {
	if h.state != state {
		h.state, h.since = state, now
	}
}

func (sw *serviceWatch) markHealthy() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.health.set(WatchHealthy, time.Now())
}

func (sw *serviceWatch) markStale(err error) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if err != nil {
		sw.health.lastErr = errorText(err, sw.secrets)
	}
	if sw.health.state == WatchHealthy {
		sw.health.set(WatchStale, time.Now())
	}
}

func (sw *serviceWatch) status() ServiceStatus {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return ServiceStatus{
		Service: sw.service, State: sw.health.state, Since: sw.health.since, LastError: sw.health.lastErr,
		Instances: sw.base.Len(), Subscribers: sw.subs,
		Preserving: sw.pres.holding, PreservingSince: sw.pres.since, Holds: sw.pres.holds,
	}
}

// WatchStatus reports every watched service, sorted by name.
func (d *discovery) WatchStatus() []ServiceStatus {
	d.mu.Lock()
	services := make([]*serviceWatch, 0, len(d.services))
	for _, sw := range d.services {
		services = append(services, sw)
	}
	d.mu.Unlock()
	out := make([]ServiceStatus, 0, len(services))
	for _, sw := range services {
		out = append(out, sw.status())
	}
	slices.SortFunc(out, func(a, b ServiceStatus) int { return strings.Compare(a.Service, b.Service) })
	return out
}
