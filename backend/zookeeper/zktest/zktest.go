//go:build zookeeper

// Package zktest runs a real standalone ZooKeeper server for tests: Debian's
// zookeeper package (scripts/install-zookeeper.sh), a temporary data
// directory, a free loopback port and tickTime 200ms, so that sessions may
// last from 400ms (two ticks) to 60s. Tests that call Start skip when java or the jar is
// missing, except when the environment variable CI is set: then they fail,
// since CI installs both and must not pass by skipping.
package zktest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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
	cmd     *exec.Cmd
}

// Start starts a server and stops it when the test ends, pass or fail.
func Start(t testing.TB) *Server {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	s := &Server{t: t, dir: dir, port: FreePort(t), cfgPath: filepath.Join(dir, "zoo.cfg"), logPath: filepath.Join(dir, "zk.log")}
	cfg := fmt.Sprintf(`tickTime=200
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=*
maxClientCnxns=0
maxSessionTimeout=60000
`, filepath.Join(dir, "data"), s.port)
	if err := os.WriteFile(s.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	s.start()
	return s
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

// start launches the JVM and waits until `srvr` says it serves (not `ruok`,
// which answers before the server does).
func (s *Server) start() {
	s.t.Helper()
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-cp", zkJar+":"+slf4jNop, "org.apache.zookeeper.server.ZooKeeperServerMain", s.cfgPath)
	// *os.File outputs: no copying goroutines. Pdeathsig: the JVM dies with
	// the test binary even if it is killed before its cleanups run.
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start zookeeper: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(60 * time.Second)
	for {
		if out, err := FourLetter(s.Addr(), "srvr"); err == nil && strings.Contains(out, "Mode: standalone") {
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
	if s.cmd == nil {
		return
	}
	cmd := s.cmd
	s.cmd = nil
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
