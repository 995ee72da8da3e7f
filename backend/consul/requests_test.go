//go:build consul

package consul

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/consul/consultest"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/leaktest"
)

// TestKVRequestsPerInterval: in kv mode, one process with 300 registrations
// makes at most 5 requests to Consul per refresh interval, as the agent
// itself counts them (its consul.api.http timer, by method and path), and a
// key deleted by someone else is still written again within one interval.
func TestKVRequestsPerInterval(t *testing.T) {
	leaktest.Check(t)
	a := consultest.Start(t, consultest.Options{HCL: append([]string{
		`telemetry { prometheus_retention_time = "1h" disable_hostname = true }`}, sharedHCL...)})
	ctx := ctxFor(t, 3*time.Minute)
	d := newDriver(t, a, ModeKV, Config{})
	opts := core.Options{TTL: 6 * time.Second, Logger: testLogger(t)}
	reg, err := core.NewRegistrar(d, opts)
	must(t, err)
	t.Cleanup(func() { reg.Close() })
	svc := svcName(t)
	const n = 300
	registering := time.Now()
	coretest.RegisterMany(t, ctx, reg, n, func(i int) core.Instance {
		return core.Instance{Service: svc, Addr: fmt.Sprintf("tcp@127.0.0.1:%d", 20000+i)}
	})
	t.Logf("%d registrations written in %v", n, time.Since(registering).Round(time.Millisecond))
	interval := opts.TTL / core.TTLPerInterval

	// Keys whose first refresh came before the watch vouched for them are
	// read once.
	coretest.RequestsPerInterval(t, interval, 3*opts.TTL, 5, func() map[string]int { return agentRequests(t, a) })

	// Deleted by someone else: back within one interval (plus the refresh
	// jitter and slack for the loaded machine), held by our session.
	key := kvKey(svc, "tcp@127.0.0.1:20042")
	must(t, a.Do(ctx, "DELETE", "/v1/kv/"+key, "", nil, nil))
	deleted := time.Now()
	coretest.Poll(t, interval+interval/10+time.Second, "the deleted key written again", func() error {
		var pairs []struct{ Session string }
		if err := a.Do(ctx, "GET", "/v1/kv/"+key, "", nil, &pairs); err != nil {
			return err
		}
		if s := clientOfKV(d).current(); len(pairs) != 1 || pairs[0].Session != s {
			return fmt.Errorf("%d keys, not held by our session %s", len(pairs), s)
		}
		return nil
	})
	t.Logf("deleted key back after %v", time.Since(deleted).Round(time.Millisecond))
}

var httpCount = regexp.MustCompile(`^consul_api_http_count\{method="([A-Z]+)",path="([^"]+)"\} ([0-9.e+]+)$`)

// agentRequests is the number of HTTP requests the agent has answered, by
// "METHOD path", leaving out the reads of its own metrics.
func agentRequests(t testing.TB, a *consultest.Agent) map[string]int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "GET", "http://"+a.Addr+"/v1/agent/metrics?format=prometheus", nil)
	must(t, err)
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}).Do(req)
	must(t, err)
	defer resp.Body.Close()
	by := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		m := httpCount.FindStringSubmatch(sc.Text())
		if m == nil || m[2] == "v1_agent_metrics" {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		must(t, err)
		by[m[1]+" "+m[2]] = int(v)
	}
	must(t, sc.Err())
	return by
}
