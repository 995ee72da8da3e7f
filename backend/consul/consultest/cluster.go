//go:build consul

package consultest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// Cluster is the topology users run: servers started with
// -bootstrap-expect, and a client agent that services register through,
// all on loopback, each on its own ports with its own data directory.
type Cluster struct {
	Servers []*Agent
	Client  *Agent
}

// StartCluster starts n servers and a client agent that join through the
// first server's Serf LAN port, and waits until every one has a leader and
// its node passing. Each is stopped by its PID when t ends, pass or fail.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	bin := Require(t)
	var err error
	for range 3 { // a port picked free may be taken before an agent binds it
		var c *Cluster
		if c, err = startCluster(t, bin, n); err == nil {
			return c
		}
		t.Logf("consul cluster did not start, trying again on other ports: %v", err)
	}
	t.Fatal(err)
	return nil
}

func startCluster(t testing.TB, bin string, n int) (*Cluster, error) {
	c := &Cluster{}
	var all []*Agent
	taken := map[int]bool{}
	for i := range n + 1 {
		ports, err := freePorts(false, taken)
		if err != nil {
			return nil, err
		}
		a := &Agent{bin: bin, ports: ports, dataDir: t.TempDir()}
		a.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports["http"]))
		if i < n {
			a.expect = n
			a.Node = "server-" + strconv.Itoa(ports["http"])
			c.Servers = append(c.Servers, a)
		} else {
			a.Node = "client-" + strconv.Itoa(ports["http"])
			c.Client = a
		}
		all = append(all, a)
	}
	join := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Servers[0].ports["serf_lan"]))
	stopAll := func() {
		for _, a := range all {
			a.Stop()
		}
	}
	for _, a := range all {
		a.join = join
		t.Cleanup(func() {
			a.Stop()
			if t.Failed() {
				t.Logf("consul agent %s (%s) output (tail):\n%s", a.Node, a.Addr, a.Output())
			}
		})
	}
	exited := make([]<-chan struct{}, len(all))
	for i, a := range all {
		done, err := a.spawn()
		if err != nil {
			stopAll()
			return nil, err
		}
		exited[i] = done
	}
	for i, a := range all {
		if err := a.waitReady(exited[i]); err != nil {
			stopAll()
			return nil, fmt.Errorf("consul agent %s: %v\n%s", a.Node, err, a.Output())
		}
	}
	return c, nil
}

// Leader returns the server that is the Raft leader, asking the running
// servers until one names a leader among them (within ReadyTimeout).
func (c *Cluster) Leader(t testing.TB) *Agent {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(ReadyTimeout)
	for {
		for _, a := range c.Servers {
			if a.PID() == 0 {
				continue
			}
			var leader string
			resp, err := hc.Get("http://" + a.Addr + "/v1/status/leader")
			if err != nil {
				continue
			}
			err = json.NewDecoder(resp.Body).Decode(&leader)
			resp.Body.Close()
			if err != nil {
				continue
			}
			for _, s := range c.Servers {
				if s.PID() != 0 && leader == net.JoinHostPort("127.0.0.1", strconv.Itoa(s.ports["server"])) {
					return s
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Raft leader among the running Consul servers within %v", ReadyTimeout)
		}
		time.Sleep(50 * time.Millisecond) // polling interval; the deadline decides
	}
}

// NodeStatus is the status of node's serfHealth check as agent a sees it.
func (a *Agent) NodeStatus(node string) (string, error) {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get("http://" + a.Addr + "/v1/health/node/" + node)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var checks []struct{ CheckID, Status string }
	if err := json.NewDecoder(resp.Body).Decode(&checks); err != nil {
		return "", err
	}
	for _, c := range checks {
		if c.CheckID == "serfHealth" {
			return c.Status, nil
		}
	}
	return "", fmt.Errorf("node %s has no serfHealth check", node)
}
