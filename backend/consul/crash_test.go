//go:build consul

package consul

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/consul/consultest"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/leaktest"
)

// helperEnv makes the test binary a registering process (TestHelperProcess)
// instead of a test run.
const helperEnv = "SEEDFORGE_CONSUL_HELPER"

type helperSpec struct {
	Addr, Mode, Service, Inst string
	TTL                       time.Duration
}

// TestHelperProcess is not a test: run by TestProcessCrash in a child
// process, it registers one instance through core and then just lives, until
// it is killed.
func TestHelperProcess(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		t.Skip("the registering child process of TestProcessCrash")
	}
	var h helperSpec
	must(t, json.Unmarshal([]byte(raw), &h))
	d, err := New(testConfig(&consultest.Agent{Addr: h.Addr}, Mode(h.Mode), Config{}))
	must(t, err)
	reg, err := core.NewRegistrar(d, core.Options{TTL: h.TTL})
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must(t, reg.Register(ctx, core.Instance{Service: h.Service, Addr: h.Inst}))
	fmt.Println("registered")
	time.Sleep(time.Hour) // until the parent kills this process
}

// TestProcessCrash registers an instance from a child process and kills it
// with SIGKILL, so nothing is deregistered: the instance must leave the
// passing set (catalog: its TTL check goes critical; kv: its session
// expires and deletes the key) one TTL after its last refresh, while an
// instance of a live process stays.
func TestProcessCrash(t *testing.T) {
	a := sharedAgent(t)
	for _, mode := range []Mode{ModeCatalog, ModeKV} {
		t.Run(string(mode), func(t *testing.T) {
			leaktest.Check(t)
			ttl := catalogTTL
			if mode == ModeKV {
				ttl = kvTTL
			}
			svc := svcName(t)
			crashed, alive := "tcp@127.0.0.1:32001", "tcp@127.0.0.1:32002"
			spec, _ := json.Marshal(helperSpec{Addr: a.Addr, Mode: string(mode), Service: svc, Inst: crashed, TTL: ttl})
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
			cmd.Env = append(os.Environ(), helperEnv+"="+string(spec))
			out, err := cmd.StdoutPipe()
			must(t, err)
			cmd.Stderr = cmd.Stdout
			must(t, cmd.Start())
			waited := make(chan struct{})
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-waited
			})
			ready := make(chan bool, 1)
			var childOut strings.Builder
			go func() {
				defer close(waited)
				sc := bufio.NewScanner(out)
				found := false
				for sc.Scan() {
					childOut.WriteString(sc.Text() + "\n")
					if !found && sc.Text() == "registered" {
						found = true
						ready <- true
					}
				}
				if !found {
					ready <- false
				}
				cmd.Wait()
			}()
			select {
			case ok := <-ready:
				if !ok {
					<-waited
					t.Fatalf("child exited without registering:\n%s", childOut.String())
				}
			case <-time.After(60 * time.Second):
				t.Fatal("child did not register within 60s")
			}

			opts := core.Options{TTL: ttl, Logger: testLogger(t)}
			d := newDriver(t, a, mode, Config{})
			reg, err := core.NewRegistrar(d, opts)
			must(t, err)
			t.Cleanup(func() { reg.Close() })
			dis, err := core.NewDiscovery(d, opts)
			must(t, err)
			t.Cleanup(func() { dis.Close() })
			ctx := ctxFor(t, time.Minute)
			must(t, reg.Register(ctx, core.Instance{Service: svc, Addr: alive}))
			ch, err := dis.Watch(ctx, svc)
			must(t, err)
			coretest.Next(t, ch, 10*time.Second, "both instances", coretest.HasAddrs(crashed, alive))

			must(t, cmd.Process.Kill())
			<-waited
			killed := time.Now()
			coretest.Next(t, ch, ttl+10*time.Second, "the crashed instance gone", coretest.HasAddrs(alive))
			t.Logf("crashed instance left the passing set %v after SIGKILL (ttl %v, refreshed every ~%v)",
				time.Since(killed).Round(time.Millisecond), ttl, (ttl / core.TTLPerInterval).Round(time.Millisecond))

			switch mode {
			case ModeCatalog:
				// Still registered with the agent, critical, until
				// DeregisterCriticalServiceAfter (>= 1m) reaps it.
				var checks []struct{ CheckID, Status string }
				must(t, a.Do(ctx, "GET", "/v1/health/checks/"+svc, "", nil, &checks))
				want := checkID(ServiceID(svc, crashed))
				found := false
				for _, c := range checks {
					if c.CheckID == want {
						found = true
						if c.Status != "critical" {
							t.Errorf("crashed instance's check is %s, want critical", c.Status)
						}
					}
				}
				if !found {
					t.Errorf("crashed instance's check %s not in %v", want, checks)
				}
			case ModeKV:
				// The session's delete behaviour removed the key.
				err := a.Do(ctx, "GET", "/v1/kv/"+kvKey(svc, crashed), "", nil, nil)
				if err == nil || !strings.Contains(err.Error(), "404") {
					t.Errorf("crashed instance's key: %v, want 404", err)
				}
			}
		})
	}
}
