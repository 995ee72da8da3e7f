package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/proctest"
)

// buildTags are the tags of this test build; the tagged test files add
// theirs in init, and TestMain builds the binary with the same ones.
var buildTags []string

// bin is the discovery binary under test.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "discovery-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "discovery")
	slices.Sort(buildTags)
	build := exec.Command("go", "build", "-tags", strings.Join(buildTags, " "), "-o", bin, "./cmd/discovery")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build -tags %q ./cmd/discovery: %v\n%s", strings.Join(buildTags, " "), err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is a finished one-shot run.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs the binary to completion (killed by its PID after a minute).
func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("discovery %q: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("discovery %q did not end within a minute; stderr:\n%s", args, stderr.String())
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// proc is the binary running in the background.
type proc struct {
	args           []string
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
}

// startCLI starts the binary; it is stopped by its PID when the test ends,
// pass or fail (SIGTERM, then SIGKILL after 10s), and dies with the test
// binary should that be killed first.
func startCLI(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{args: args, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("discovery %q exit %d\nstdout:\n%s\nstderr:\n%s", p.args, p.cmd.ProcessState.ExitCode(), p.stdout, p.stderr)
		}
	})
	return p
}

func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to discovery %q: %v", sig, p.args, err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("discovery %q still running after %v", p.args, within)
		return -1
	}
}

// lists parses the complete lines of an NDJSON stdout (watch --json).
func (p *proc) lists(t *testing.T) [][]jsonInstance {
	t.Helper()
	out := p.stdout.String()
	out = out[:strings.LastIndexByte(out, '\n')+1]
	var lists [][]jsonInstance
	for line := range strings.Lines(out) {
		var l []jsonInstance
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("watch --json printed a line that is not a JSON array: %q: %v", line, err)
		}
		lists = append(lists, l)
	}
	return lists
}

// waitFor polls cond until it holds or the deadline passes.
var waitFor = coretest.PollUntil

type syncBuffer = proctest.Buffer

// closedPort is a loopback address nothing listens on (a moment ago).
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// parseList parses get/list --json output: one JSON array.
func parseList(t *testing.T, r result) []jsonInstance {
	t.Helper()
	var l []jsonInstance
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		t.Fatalf("--json output is not a JSON array: %v\n%s", err, r.stdout)
	}
	return l
}

// find returns the instance with addr.
func find(list []jsonInstance, addr string) (jsonInstance, bool) {
	for _, in := range list {
		if in.Addr == addr {
			return in, true
		}
	}
	return jsonInstance{}, false
}

// hasMeta reports whether got holds every key of want with its value.
func hasMeta(got, want map[string]string) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// wantError checks a failed run: the exit code, and one line on stderr
// starting with "discovery: " that contains every part of want.
func wantError(t *testing.T, r result, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d; stderr: %s", r.code, code, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "discovery: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr is not one line starting with \"discovery: \": %q", r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q: %s", w, r.stderr)
		}
	}
	if r.stdout != "" {
		t.Errorf("stdout not empty on error: %q", r.stdout)
	}
}
