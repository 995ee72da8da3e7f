// Package proctest runs the project's commands as real processes in tests:
// build them, start servers in the background, run clients to completion.
// Every process started is stopped by its PID when the test ends, pass or
// fail, and its output is shown when the test failed.
package proctest

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BuildOptions tune Build.
type BuildOptions struct {
	Tags string // build tags, space-separated
	// Offline forbids module downloads (GOPROXY=off), for builds inside a
	// network namespace: everything must already be in the module cache.
	Offline bool
}

// Build compiles the packages, given relative to the module root (for
// example "examples/quickstart"), and returns their binaries by package.
func Build(t testing.TB, o BuildOptions, pkgs ...string) map[string]string {
	t.Helper()
	root := moduleRoot(t)
	dir := t.TempDir()
	bins := map[string]string{}
	for _, p := range pkgs {
		out := filepath.Join(dir, strings.ReplaceAll(p, "/", "_"))
		cmd := exec.Command("go", "build", "-tags", o.Tags, "-o", out, "./"+p)
		cmd.Dir = root
		if o.Offline {
			cmd.Env = append(os.Environ(), "GOPROXY=off")
		}
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", p, err, b)
		}
		bins[p] = out
	}
	return bins
}

func moduleRoot(t testing.TB) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		t.Fatalf("proctest: not inside the module (go env GOMOD: %q, %v)", gomod, err)
	}
	return filepath.Dir(gomod)
}

// FreeAddr returns a loopback address with a port that was free just now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Proc is a process running in the background.
type Proc struct {
	cmd  *exec.Cmd
	out  Buffer
	done chan struct{}
	err  error // Wait's result, valid once done is closed
}

// Start runs bin in the background until Stop or the end of the test.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop(t)
		if t.Failed() {
			t.Logf("%s %v output:\n%s", filepath.Base(bin), args, p.Output())
		}
	})
	return p
}

// Stop sends SIGTERM to the process and waits for it, killing it after 10s.
// It returns the process's exit error (nil for status 0).
func (p *Proc) Stop(t testing.TB) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s ignored SIGTERM and was killed", filepath.Base(p.cmd.Path))
	}
	return p.err
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Output is what the process wrote so far, stdout and stderr together.
func (p *Proc) Output() string { return p.out.String() }

// WaitListening polls until something accepts connections on addr.
func WaitListening(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s", addr)
		}
		time.Sleep(20 * time.Millisecond) // polling; the deadline decides
	}
}

// Run runs bin to completion (at most a minute) and returns its output; a
// non-zero exit fails the test.
func Run(t testing.TB, bin string, args ...string) string {
	t.Helper()
	out, err := RunErr(bin, args...)
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out)
	}
	return out
}

// RunErr runs bin to completion (at most a minute) and returns its output
// and exit error, for tests that expect a failure.
func RunErr(bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}

// Buffer is a bytes.Buffer safe for concurrent writers and readers: a
// process's output copier, a logger's goroutines, and the test.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
