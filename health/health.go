// Package health serves the status of a Registrar and a Discovery over HTTP,
// for readiness and health probes (Kubernetes, load balancers, operators):
//
//	c, _ := discovery.Open(url)
//	h := health.Handler{Registrar: c, Discovery: c}
//	http.Handle("/ready", h.Ready())
//	http.Handle("/health", h.Health())
//
// Both answer JSON: every registration (state, since, last error, last
// write) and every watched service (state, since, last error, instances).
// It holds no policy: the states come from core.
package health

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/seedforge/discovery/core"
)

// Registrar is the status half of core.Registrar.
type Registrar interface {
	Status() []core.RegistrationStatus
}

// Discovery is the status half of core.Discovery.
type Discovery interface {
	WatchStatus() []core.ServiceStatus
}

// Handler reports on a Registrar and a Discovery; either may be nil.
type Handler struct {
	Registrar Registrar
	Discovery Discovery
	// Grace keeps a server ready while a registration that was written
	// before is retrying for less than Grace (a short registry outage: the
	// record outlives it by its TTL). Zero: ready only while every
	// registration is written.
	Grace time.Duration
}

// Report is the JSON body of both endpoints.
type Report struct {
	// Ready is true when every registration is written (see Handler.Grace);
	// a process with no registration is ready.
	Ready         bool                      `json:"ready"`
	Registrations []core.RegistrationStatus `json:"registrations"`
	Watches       []core.ServiceStatus      `json:"watches"`
}

// Report reads the current status.
func (h Handler) Report() Report {
	r := Report{Ready: true, Registrations: []core.RegistrationStatus{}, Watches: []core.ServiceStatus{}}
	if h.Registrar != nil {
		r.Registrations = h.Registrar.Status()
	}
	if h.Discovery != nil {
		r.Watches = h.Discovery.WatchStatus()
	}
	now := time.Now()
	for _, st := range r.Registrations {
		if !h.written(st, now) {
			r.Ready = false
		}
	}
	return r
}

func (h Handler) written(st core.RegistrationStatus, now time.Time) bool {
	switch st.State {
	case core.StateRegistered:
		return true
	case core.StateRetrying:
		return !st.LastWrite.IsZero() && now.Sub(st.Since) < h.Grace
	}
	return false
}

// Ready answers 200 when the process is ready to be found (every
// registration written) and 503 otherwise, with the Report as JSON.
func (h Handler) Ready() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		r := h.Report()
		code := http.StatusOK
		if !r.Ready {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, r)
	})
}

// Health answers 200 with the Report as JSON as long as the process can
// answer at all: a registry outage is a reason to look (states, errors),
// not to restart the process.
func (h Handler) Health() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, h.Report())
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away: nothing to do
}
