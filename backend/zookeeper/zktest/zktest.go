//go:build zookeeper

// Package zktest runs real ZooKeeper servers for tests, standalone (Start)
// or as an ensemble (StartEnsemble): Debian's zookeeper package
// (scripts/install-zookeeper.sh), temporary data directories, free loopback
// ports and tickTime 200ms, so that sessions may last from 400ms (two ticks)
// to 60s. Tests that start one skip when java or the jar is missing, except
// when the environment variable CI is set: then they fail, since CI installs
// both and must not pass by skipping.
package zktest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Where Debian's zookeeper package (scripts/install-zookeeper.sh) puts them.
const (
	zkJar    = "/usr/share/java/zookeeper.jar"
	slf4jNop = "/usr/share/java/slf4j-nop.jar"
)

// Server is a standalone ZooKeeper server run by a test.
type Server struct {
	t       testing.TB
	dir     string
	port    int
	cfgPath string
	logPath string
	quorum  bool // a member of an Ensemble
	cmd     *exec.Cmd
}

// Start starts a server and stops it when the test ends, pass or fail.
func Start(t testing.TB) *Server {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	s := &Server{t: t, dir: dir, port: FreePort(t), cfgPath: filepath.Join(dir, "zoo.cfg"), logPath: filepath.Join(dir, "zk.log")}
	if err := os.WriteFile(s.cfgPath, []byte(s.config("")), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	s.start()
	return s
}

// config is the server's zoo.cfg, with extra lines for an ensemble.
func (s *Server) config(extra string) string {
	return fmt.Sprintf(`tickTime=200
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=*
maxClientCnxns=0
maxSessionTimeout=60000
%s`, filepath.Join(s.dir, "data"), s.port, extra)
}

// Require skips the test when java or ZooKeeper's jar is missing, or fails
// it when the environment variable CI is set.
func Require(t testing.TB) {
	t.Helper()
	var missing []string
	if _, err := exec.LookPath("java"); err != nil {
		missing = append(missing, "java")
	}
	for _, f := range []string{zkJar, slf4jNop} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("ZooKeeper tests need %s: run scripts/install-zookeeper.sh (Debian's zookeeper package)", strings.Join(missing, " and "))
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " — CI is set, so this is a failure, not a skip")
	}
	t.Skip(msg)
}

// FreePort returns a loopback TCP port nobody listened on a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Addr is the server's client address.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// start launches the JVM and waits until it serves.
func (s *Server) start() {
	s.t.Helper()
	s.launch()
	s.waitServing()
}

// launch starts the JVM without waiting.
func (s *Server) launch() {
	s.t.Helper()
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	main := "org.apache.zookeeper.server.ZooKeeperServerMain"
	if s.quorum {
		main = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
	}
	cmd := exec.Command("java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-cp", zkJar+":"+slf4jNop, main, s.cfgPath)
	// *os.File outputs: no copying goroutines. Pdeathsig: the JVM dies with
	// the test binary even if it is killed before its cleanups run.
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start zookeeper: %v", err)
	}
	s.cmd = cmd
}

// waitServing waits until `srvr` says the server serves (not `ruok`, which
// answers before the server does): standalone, or a leader or follower.
func (s *Server) waitServing() {
	s.t.Helper()
	modes := []string{"Mode: standalone"}
	if s.quorum {
		modes = []string{"Mode: leader", "Mode: follower"}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if out, err := FourLetter(s.Addr(), "srvr"); err == nil && slices.ContainsFunc(modes, func(m string) bool { return strings.Contains(out, m) }) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("zookeeper on %s not serving within 60s; log:\n%s", s.Addr(), s.logTail())
		}
		time.Sleep(50 * time.Millisecond) // polling interval; the deadline decides
	}
}

// Stop ends the server by its PID: SIGTERM, then SIGKILL after 10s.
// Start already arranged it for the end of the test.
func (s *Server) Stop() {
	cmd := s.take()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart stops the server and starts it again on the same port and data.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// FourLetter sends a four-letter-word command (srvr, stat, wchs…) and
// returns the answer.
func FourLetter(addr, cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(cmd)); err != nil {
		return "", err
	}
	var b bytes.Buffer
	_, err = io.Copy(&b, c)
	return b.String(), err
}

// Ensemble is a ZooKeeper ensemble of servers on loopback, each with its
// own data directory, client port and quorum ports.
type Ensemble struct {
	Servers []*Server
}

// StartEnsemble starts n servers (QuorumPeerMain) that form one ensemble,
// and waits until each serves as leader or follower. Every server is stopped
// by its PID when the test ends, pass or fail.
func StartEnsemble(t testing.TB, n int) *Ensemble {
	t.Helper()
	Require(t)
	e := &Ensemble{}
	var peers strings.Builder
	for i := range n {
		dir := t.TempDir()
		s := &Server{t: t, dir: dir, port: FreePort(t), cfgPath: filepath.Join(dir, "zoo.cfg"), logPath: filepath.Join(dir, "zk.log"), quorum: true}
		e.Servers = append(e.Servers, s)
		fmt.Fprintf(&peers, "server.%d=127.0.0.1:%d:%d\n", i+1, FreePort(t), FreePort(t))
	}
	for i, s := range e.Servers {
		// initLimit/syncLimit in ticks: followers get 4s to sync, 2s to answer.
		cfg := s.config("initLimit=20\nsyncLimit=10\n" + peers.String())
		if err := os.MkdirAll(filepath.Join(s.dir, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.dir, "data", "myid"), []byte(strconv.Itoa(i+1)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(s.cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		s.launch()
	}
	for _, s := range e.Servers {
		s.waitServing()
	}
	return e
}

// Addrs are the client addresses of every server.
func (e *Ensemble) Addrs() []string {
	var out []string
	for _, s := range e.Servers {
		out = append(out, s.Addr())
	}
	return out
}

// Leader returns the index of the server that says Mode: leader, waiting
// for an election to end if one is running.
func (e *Ensemble) Leader() int {
	t := e.Servers[0].t
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		for i, s := range e.Servers {
			if s.cmd == nil {
				continue
			}
			if out, err := FourLetter(s.Addr(), "srvr"); err == nil && strings.Contains(out, "Mode: leader") {
				return i
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ZooKeeper leader within 60s")
		}
		time.Sleep(50 * time.Millisecond) // polling interval; the deadline decides
	}
}

// Kill ends the server with SIGKILL, as a crash would, and reaps it.
func (s *Server) Kill() {
	if cmd := s.take(); cmd != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// take returns the running process, if any, which is no longer s's.
func (s *Server) take() *exec.Cmd {
	cmd := s.cmd
	s.cmd = nil
	return cmd
}

// Start starts a stopped or killed server again on its port and data.
func (s *Server) Start() {
	s.t.Helper()
	s.launch()
	s.waitServing()
}
