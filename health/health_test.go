package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedforge/discovery"
	"github.com/seedforge/discovery/backend/inprocess"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/health"
	"github.com/seedforge/discovery/internal/leaktest"
)

var seq atomic.Int64

func get(t *testing.T, h http.Handler) (int, health.Report) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/ready", nil))
	var r health.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	return rec.Code, r
}

// Not ready while a registration is not written (the registry unreachable
// at start), ready once it is; health answers 200 throughout, with states.
func TestReadyFollowsRegistrations(t *testing.T) {
	leaktest.Check(t)
	name := fmt.Sprintf("health-%d", seq.Add(1))
	c, err := discovery.OpenConfig("inprocess://"+name, discovery.Config{TTL: 300 * time.Millisecond, BackoffBase: 10 * time.Millisecond, BackoffCap: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := health.Handler{Registrar: c, Discovery: c}
	if code, r := get(t, h.Ready()); code != http.StatusOK || !r.Ready {
		t.Fatalf("no registration: %d %+v, want ready", code, r)
	}
	store := inprocess.Lookup(name)
	store.SetDown(true)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	a := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:1"}
	if err := c.Register(ctx, a); !errors.Is(err, core.ErrPending) {
		t.Fatalf("Register = %v, want ErrPending", err)
	}
	coretest.Poll(t, 5*time.Second, "not ready, retrying with an error", func() error {
		code, r := get(t, h.Ready())
		if code != http.StatusServiceUnavailable || r.Ready || len(r.Registrations) != 1 ||
			r.Registrations[0].State != core.StateRetrying || r.Registrations[0].LastError == "" {
			return fmt.Errorf("%d %+v", code, r)
		}
		return nil
	})
	if code, r := get(t, h.Health()); code != http.StatusOK || r.Ready {
		t.Fatalf("health during the outage: %d %+v, want 200 and not ready", code, r)
	}
	store.SetDown(false)
	coretest.Poll(t, 5*time.Second, "ready once written", func() error {
		code, r := get(t, h.Ready())
		if code != http.StatusOK || !r.Ready || r.Registrations[0].State != core.StateRegistered || r.Registrations[0].LastWrite.IsZero() {
			return fmt.Errorf("%d %+v", code, r)
		}
		return nil
	})
	// A written registration retrying stays ready within Grace only.
	store.SetDown(true)
	coretest.Poll(t, 5*time.Second, "retrying after an outage", func() error {
		if st := c.Status(); st[0].State != core.StateRetrying {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})
	if code, _ := get(t, h.Ready()); code != http.StatusServiceUnavailable {
		t.Fatalf("retrying without grace: %d, want 503", code)
	}
	graceful := health.Handler{Registrar: c, Grace: time.Hour}
	if code, _ := get(t, graceful.Ready()); code != http.StatusOK {
		t.Fatalf("retrying within grace: %d, want 200", code)
	}
	store.SetDown(false)
}
