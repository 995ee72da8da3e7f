// Package dashboard is a web page over a registry: every service, its
// instances with their metadata, weight, group, version and state, the
// published tps of each instance plotted live, joins and leaves as they
// happen, and the registry's health. The page and its script are embedded
// (no CDN); updates travel as server-sent events fed by core's shared
// watch. It is an http.Handler for the paths under /ui, served by
// cmd/gateway and by `discovery ui`.
//
// Access: with a Token, every request must carry it (Authorization:
// Bearer, or ?token= once, which sets an HttpOnly cookie); without one the
// handler is open, which cmd/gateway allows only on a loopback address.
package dashboard

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/seedforge/discovery/core"
)

//go:embed assets
var assets embed.FS

// Config configures a Handler.
type Config struct {
	// Discovery is the registry: a *discovery.Client. Required.
	Discovery core.Discovery
	// Services are always shown. The others are found by enumeration
	// (Discovery.Services) on backends that can enumerate, and by Follow.
	Services []string
	// Poll is how often the registry's services are enumerated, which also
	// tells its health, and the watches' states read. 0 means 2s.
	Poll time.Duration
	// Token guards the page and its actions; empty leaves them open.
	Token string
	// Drain marks an instance drained (true) or not (false); nil hides the
	// drain buttons.
	Drain func(ctx context.Context, service, addr string, drained bool) error
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Handler serves the dashboard. Close it to end its watches.
type Handler struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mux    *http.ServeMux

	mu       sync.Mutex
	services map[string]*serviceState
	health   Health
	version  uint64
	subs     map[chan struct{}]struct{}
}

// Health is what the dashboard knows of the registry.
type Health struct {
	OK      bool      `json:"ok"`
	Error   string    `json:"error,omitempty"`
	Checked time.Time `json:"checked"`
}

type serviceState struct {
	Name      string          `json:"name"`
	Instances []InstanceView  `json:"instances"`
	Watch     string          `json:"watch"` // core's watch state: starting, healthy, stale (…)
	Updated   time.Time       `json:"updated"`
	raw       []core.Instance // for comparisons
}

// InstanceView is one instance as the page shows it.
type InstanceView struct {
	Addr     string            `json:"addr"`
	Weight   int               `json:"weight"`
	Group    string            `json:"group,omitempty"`
	Version  string            `json:"version,omitempty"`
	State    string            `json:"state"`
	Protocol string            `json:"protocol"`
	TPS      *float64          `json:"tps,omitempty"`
	Meta     map[string]string `json:"meta"`
}

// Snapshot is what one event carries: the whole state, small enough to send
// whole.
type Snapshot struct {
	Version  uint64          `json:"version"`
	Time     time.Time       `json:"time"`
	Registry Health          `json:"registry"`
	Services []*serviceState `json:"services"`
	CanDrain bool            `json:"canDrain"`
}

// New starts following the configured services and those the registry
// lists.
func New(cfg Config) (*Handler, error) {
	if cfg.Discovery == nil {
		return nil, fmt.Errorf("%w: dashboard: Config.Discovery is nil: pass the discovery.Client", core.ErrInvalid)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Handler{cfg: cfg, ctx: ctx, cancel: cancel, services: map[string]*serviceState{}, subs: map[chan struct{}]struct{}{}}
	for _, s := range cfg.Services {
		if err := core.ValidateService(s); err != nil {
			cancel()
			return nil, fmt.Errorf("dashboard: %w", err)
		}
		h.Follow(s)
	}
	h.health = Health{OK: true, Checked: time.Now()}
	h.wg.Add(1)
	go h.enumerate()
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /ui", h.page)
	h.mux.HandleFunc("GET /ui/", h.page)
	h.mux.HandleFunc("GET /ui/app.js", h.asset("assets/app.js", "text/javascript; charset=utf-8"))
	h.mux.HandleFunc("GET /ui/style.css", h.asset("assets/style.css", "text/css; charset=utf-8"))
	h.mux.HandleFunc("GET /ui/api/state", h.state)
	h.mux.HandleFunc("GET /ui/events", h.events)
	h.mux.HandleFunc("POST /ui/api/drain", h.drain)
	return h, nil
}

// Close ends the watches and the event streams.
func (h *Handler) Close() error {
	h.cancel()
	h.wg.Wait()
	return nil
}

// Follow adds service to the page, once.
func (h *Handler) Follow(service string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.services[service]; ok || h.ctx.Err() != nil {
		return
	}
	st := &serviceState{Name: service, Watch: "starting", Instances: []InstanceView{}}
	h.services[service] = st
	h.changedLocked()
	h.wg.Add(1)
	go h.watch(st)
}

// watch follows one service's list, inactive instances included (the page
// shows drained instances).
func (h *Handler) watch(st *serviceState) {
	defer h.wg.Done()
	ch, err := h.cfg.Discovery.Watch(h.ctx, st.Name, core.IncludeInactive())
	if err != nil {
		h.mu.Lock()
		st.Watch = "failed: " + err.Error()
		h.changedLocked()
		h.mu.Unlock()
		return
	}
	for list := range ch {
		views := make([]InstanceView, 0, len(list))
		for _, in := range list {
			views = append(views, view(in))
		}
		h.mu.Lock()
		st.Instances, st.raw, st.Updated = views, list, time.Now()
		h.changedLocked()
		h.mu.Unlock()
	}
	h.mu.Lock()
	st.Watch = "ended"
	h.changedLocked()
	h.mu.Unlock()
}

func view(in core.Instance) InstanceView {
	v := InstanceView{
		Addr: in.Addr, Weight: in.Meta.Weight(), Group: in.Meta[core.MetaGroup], Version: in.Meta[core.MetaVersion],
		State: "active", Protocol: "rpcx", Meta: in.Meta,
	}
	if in.Meta.Inactive() {
		v.State = core.StateInactive
	}
	if p := in.Meta[core.MetaProtocol]; p != "" {
		v.Protocol = p
	}
	if tps, ok := in.Meta.TPS(); ok {
		v.TPS = &tps
	}
	if v.Meta == nil {
		v.Meta = map[string]string{}
	}
	return v
}

// enumerate polls the registry's service names, whose result is the
// registry's health on the page, and the states of core's watches.
func (h *Handler) enumerate() {
	defer h.wg.Done()
	t := time.NewTicker(h.cfg.Poll)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(h.ctx, max(h.cfg.Poll, 5*time.Second))
		counts, err := h.cfg.Discovery.Services(ctx)
		cancel()
		if h.ctx.Err() != nil {
			return
		}
		hl := Health{OK: err == nil || errors.Is(err, core.ErrUnsupported), Checked: time.Now()}
		if err != nil {
			hl.Error = err.Error()
		}
		for _, c := range counts {
			if c.Service != core.AnyService && core.ValidateService(c.Service) == nil {
				h.Follow(c.Service)
			}
		}
		watch := map[string]string{}
		for _, ws := range h.cfg.Discovery.WatchStatus() {
			w := string(ws.State)
			if ws.State == core.WatchStale && ws.LastError != "" {
				w += ": " + ws.LastError
			}
			if ws.Preserving {
				w += " (self-preservation: holding the last list)"
			}
			watch[ws.Service] = w
		}
		h.mu.Lock()
		changed := h.health.OK != hl.OK || h.health.Error != hl.Error
		h.health = hl
		for name, st := range h.services {
			if w, ok := watch[name]; ok && w != st.Watch {
				st.Watch, changed = w, true
			}
		}
		if changed {
			h.changedLocked()
		}
		h.mu.Unlock()
		select {
		case <-t.C:
		case <-h.ctx.Done():
			return
		}
	}
}

// changedLocked wakes every event stream; h.mu is held.
func (h *Handler) changedLocked() {
	h.version++
	for ch := range h.subs {
		select {
		case ch <- struct{}{}:
		default: // already woken: it will send the newest state
		}
	}
}

func (h *Handler) snapshot() Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := Snapshot{Version: h.version, Time: time.Now(), Registry: h.health, CanDrain: h.cfg.Drain != nil}
	for _, st := range h.services {
		c := *st
		s.Services = append(s.Services, &c)
	}
	slices.SortFunc(s.Services, func(a, b *serviceState) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return s
}

// ServeHTTP serves the page, its assets, the state, the event stream and
// the drain action, each behind the token when one is set.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(w, r) {
		return
	}
	h.mux.ServeHTTP(w, r)
}

const cookieName = "discovery_ui_token"

// authorized checks the token; ?token= on a GET sets the cookie, so that
// the page's own requests (EventSource cannot send headers) carry it, and
// redirects to the same page without it (then false: answered).
func (h *Handler) authorized(w http.ResponseWriter, r *http.Request) bool {
	if h.cfg.Token == "" {
		return true
	}
	given := ""
	if a := r.Header.Get("Authorization"); len(a) > 7 && a[:7] == "Bearer " {
		given = a[7:]
	} else if c, err := r.Cookie(cookieName); err == nil {
		given = c.Value
	} else if q := r.URL.Query().Get("token"); q != "" && r.Method == http.MethodGet {
		if equal(q, h.cfg.Token) {
			// The cookie carries it from now on; the redirect takes the
			// token out of the address bar and the browser's history.
			http.SetCookie(w, &http.Cookie{Name: cookieName, Value: q, Path: "/ui", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			http.Redirect(w, r, r.URL.Path, http.StatusSeeOther)
			return false
		}
	}
	if !equal(given, h.cfg.Token) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="discovery dashboard"`)
		http.Error(w, "dashboard: a token is required: open /ui?token=TOKEN or send Authorization: Bearer TOKEN", http.StatusUnauthorized)
		return false
	}
	return true
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/ui" && r.URL.Path != "/ui/" {
		http.NotFound(w, r)
		return
	}
	h.asset("assets/index.html", "text/html; charset=utf-8")(w, r)
}

func (h *Handler) asset(name, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := assets.ReadFile(name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Write(b)
	}
}

func (h *Handler) state(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(h.snapshot())
}

// events streams the state as server-sent events: the whole snapshot now,
// then after every change (coalesced), and a comment every 15s so proxies
// keep the stream open.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	wake := make(chan struct{}, 1)
	h.mu.Lock()
	h.subs[wake] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.subs, wake)
		h.mu.Unlock()
	}()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	send := func() error {
		b, err := json.Marshal(h.snapshot())
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return err
		}
		fl.Flush()
		return nil
	}
	if send() != nil {
		return
	}
	for {
		select {
		case <-wake:
			if send() != nil {
				return
			}
		case <-keep.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		case <-r.Context().Done():
			return
		case <-h.ctx.Done():
			return
		}
	}
}

// drainRequest is the body of POST /ui/api/drain.
type drainRequest struct {
	Service string `json:"service"`
	Addr    string `json:"addr"`
	Drained bool   `json:"drained"`
}

func (h *Handler) drain(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
		http.Error(w, "dashboard: drain requests come from the dashboard's own page", http.StatusForbidden)
		return
	}
	if h.cfg.Drain == nil {
		http.Error(w, "dashboard: draining is not enabled here", http.StatusNotFound)
		return
	}
	var req drainRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		http.Error(w, "dashboard: body must be {\"service\", \"addr\", \"drained\"}: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := (core.Instance{Service: req.Service, Addr: req.Addr}).Validate(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := h.cfg.Drain(ctx, req.Service, req.Addr, req.Drained); err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, core.ErrNotFound) {
			status = http.StatusNotFound
		}
		http.Error(w, err.Error(), status)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// CheckExposure refuses to serve the dashboard open (no token) on an
// address other hosts can reach: its drain action changes the registry.
func CheckExposure(listen, token string) error {
	if token != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("%w: listen address %q: %v", core.ErrInvalid, listen, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: the dashboard would be open to the network on %s: set a token (DISCOVERY_UI_TOKEN), or listen on 127.0.0.1", core.ErrInvalid, listen)
}
