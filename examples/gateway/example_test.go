//go:build consul

package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/consul/consultest"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/proctest"
)

// freeBase finds a PORT_BASE whose ports (run.sh's layout) are free now.
func freeBase(t *testing.T) int {
	for range 50 {
		base := 20000 + 100*rand.IntN(400)
		ok := true
		for _, off := range []int{0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 32, 33, 50, 51, 80} {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+off))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
			if off%10 == 2 || off%10 == 3 { // Serf: UDP too
				pc, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(base+off))
				if err != nil {
					ok = false
					break
				}
				pc.Close()
			}
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range for the example")
	return 0
}

// TestSeedTopology runs run.sh as a user would, calls both services through
// the gateway in a loop, kills the Raft leader, and checks that no call
// failed; then stops the script and checks it stopped every process.
func TestSeedTopology(t *testing.T) {
	consul := consultest.Require(t)
	base := freeBase(t)
	state := t.TempDir()
	p := proctest.Start(t, "env", "PORT_BASE="+strconv.Itoa(base), "STATE_DIR="+state, "CONSUL_BIN="+consul, "bash", "run.sh")
	coretest.Poll(t, 8*time.Minute, "run.sh ready (it builds the binaries first)", func() error {
		select {
		case <-p.Done():
			t.Fatalf("run.sh ended:\n%s", p.Output())
		default:
		}
		if !strings.Contains(p.Output(), "== ready") {
			return fmt.Errorf("not ready yet")
		}
		return nil
	})
	gw := "http://127.0.0.1:" + strconv.Itoa(base+80)
	client := "http://127.0.0.1:" + strconv.Itoa(base+30)

	var calls, failures atomic.Int64
	var mu sync.Mutex
	var lastFailure string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 10 * time.Second}
	for _, c := range []struct{ path, body, want string }{
		{"/Arith/Mul", `{"A":6,"B":7}`, `"C":42`},
		{"/grpc.health.v1.Health/Check", `{}`, `SERVING`},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := hc.Post(gw+c.path, "application/json", strings.NewReader(c.body))
				calls.Add(1)
				if err != nil {
					failures.Add(1)
					mu.Lock()
					lastFailure = err.Error()
					mu.Unlock()
					continue
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || !strings.Contains(string(b), c.want) {
					failures.Add(1)
					mu.Lock()
					lastFailure = fmt.Sprintf("%s: %d %s", c.path, res.StatusCode, b)
					mu.Unlock()
				}
				time.Sleep(10 * time.Millisecond) // a curl loop's pace
			}
		}()
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	leader := func() string {
		res, err := hc.Get(client + "/v1/status/leader")
		if err != nil {
			return ""
		}
		defer res.Body.Close()
		var l string
		json.NewDecoder(res.Body).Decode(&l)
		return l
	}
	old := leader()
	_, portText, _ := strings.Cut(old, ":")
	port, _ := strconv.Atoi(portText)
	idx := (port - base - 1) / 10
	pidText, err := os.ReadFile(filepath.Join(state, fmt.Sprintf("consul-server%d.pid", idx)))
	if err != nil {
		t.Fatalf("leader %q: %v", old, err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidText)))
	coretest.Poll(t, 30*time.Second, "calls flowing before the leader stops", func() error {
		if calls.Load() < 50 {
			return fmt.Errorf("%d calls", calls.Load())
		}
		return nil
	})
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	coretest.Poll(t, 60*time.Second, "a new Raft leader", func() error {
		if l := leader(); l == "" || l == old {
			return fmt.Errorf("leader %q", l)
		}
		return nil
	})
	after := calls.Load()
	coretest.Poll(t, 30*time.Second, "calls flowing after the election", func() error {
		if calls.Load() < after+100 {
			return fmt.Errorf("%d calls since", calls.Load()-after)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d calls failed while the Raft leader was killed; last: %s", n, calls.Load(), lastFailure)
	}
	t.Logf("%d calls, none failed, across the leader's death", calls.Load())

	res, err := hc.Get(gw + "/services")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(b), `"service":"Arith","instances":1`) || !strings.Contains(string(b), `"service":"grpc.health.v1.Health","instances":1`) {
		t.Errorf("GET /services = %s", b)
	}

	// Ctrl-C: the script stops every process it started.
	pids, _ := filepath.Glob(filepath.Join(state, "*.pid"))
	p.Signal(os.Interrupt)
	select {
	case <-p.Done():
	case <-time.After(60 * time.Second):
		t.Fatal("run.sh did not stop after SIGINT")
	}
	for _, f := range pids {
		b, _ := os.ReadFile(f)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if pid > 0 && syscall.Kill(pid, 0) == nil {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("%s (pid %d) still running after run.sh stopped", filepath.Base(f), pid)
		}
	}
}
