package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// step bounds every wait of the end-to-end flows: generous for two shared
// cores under -race; passing runs take a fraction of it.
const step = 30 * time.Second

// registryFlow is the end-to-end story every real registry must tell, each
// command a separate process: a JSON watch is running; register runs in the
// background; get and list from other processes show the instance with its
// metadata; the watch sees it; SIGINT to register deregisters it and exits
// 0; the watch sees it gone, and SIGTERM ends the watch with exit 0.
func registryFlow(t *testing.T, url, service string) {
	const addr = "tcp@127.0.0.1:18972"
	want := map[string]string{"weight": "3", "group": "blue", "zone": "eu west"}

	watch := startCLI(t, "watch", "--json", url, service)
	waitFor(t, step, "watch to print the empty list", func() bool { return len(watch.lists(t)) > 0 })
	if l := watch.lists(t)[0]; len(l) != 0 {
		t.Fatalf("first watched list: %+v, want empty", l)
	}

	reg := startCLI(t, "register", url, service, addr, "--meta", "weight=3", "--meta", "group=blue", "--meta", "zone=eu west", "--ttl", "10s")
	waitFor(t, step, "register to say it registered", func() bool {
		return strings.Contains(reg.stdout.String(), "registered "+service+" "+addr+" meta=group=blue&weight=3&zone=eu+west ttl=10s in ")
	})

	// Polled: a store may answer reads from a replica that lags the write.
	var r result
	waitFor(t, step, "get --json to show the instance with its metadata", func() bool {
		r = runCLI(t, "get", "--json", url, service)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("get: exit %d, stderr %q", r.code, r.stderr)
		}
		in, ok := find(parseList(t, r), addr)
		return ok && in.Service == service && hasMeta(in.Meta, want)
	})
	r = runCLI(t, "list", url, service)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("list: exit %d, stderr %q", r.code, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "ADDRESS ") || !containsFields(r.stdout, addr, "3", "blue", "active", "-", "zone=eu+west") {
		t.Fatalf("list table lacks %s with its metadata:\n%s", addr, r.stdout)
	}

	// Without a service, list shows every service with its count.
	r = runCLI(t, "list", url)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "SERVICE ") || !containsFields(r.stdout, service, "1") {
		t.Fatalf("list without service: exit %d, stderr %q:\n%s", r.code, r.stderr, r.stdout)
	}
	r = runCLI(t, "list", "--json", url)
	if r.code != 0 || !strings.Contains(r.stdout, `{"service":"`+service+`","instances":1}`) {
		t.Fatalf("list --json without service: exit %d, stderr %q:\n%s", r.code, r.stderr, r.stdout)
	}

	waitFor(t, step, "watch to show the instance", func() bool {
		l := watch.lists(t)
		in, ok := find(l[len(l)-1], addr)
		return ok && hasMeta(in.Meta, want)
	})

	reg.signal(t, os.Interrupt)
	if code := reg.wait(t, step); code != 0 {
		t.Fatalf("register after SIGINT: exit %d, want 0; stderr: %s", code, reg.stderr)
	}
	if out := reg.stdout.String(); !strings.HasSuffix(out, "deregistered "+service+" "+addr+"\n") {
		t.Errorf("register output:\n%s", out)
	}
	waitFor(t, step, "watch to show the instance gone", func() bool {
		l := watch.lists(t)
		return len(l[len(l)-1]) == 0
	})
	waitFor(t, step, "get to show no instances", func() bool {
		r = runCLI(t, "get", url, service)
		if r.code != 0 {
			t.Fatalf("get after deregistration: exit %d, stderr %q", r.code, r.stderr)
		}
		return r.stdout == "no instances of "+service+"\n"
	})

	watch.signal(t, syscall.SIGTERM)
	if code := watch.wait(t, step); code != 0 {
		t.Fatalf("watch after SIGTERM: exit %d, want 0; stderr: %s", code, watch.stderr)
	}
	for _, p := range []*proc{watch, reg} {
		if s := p.stderr.String(); s != "" {
			t.Logf("discovery %q stderr (warnings):\n%s", p.args, s)
		}
	}
}

// containsFields reports whether some line of a table has exactly fields.
func containsFields(table string, fields ...string) bool {
	for line := range strings.Lines(table) {
		if strings.Join(strings.Fields(line), " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}

// unreachable: every command fails with exit 1 and one line naming the
// registry when it cannot be reached (refused at once, or no answer within
// --timeout).
func unreachable(t *testing.T, url string) {
	t.Helper()
	for _, args := range [][]string{
		{"get", "--timeout", "2s", url, "Arith"},
		{"list", "--timeout", "2s", url, "Arith"},
		{"list", "--timeout", "2s", url},
		{"watch", "--timeout", "2s", url, "Arith"},
	} {
		r := runCLI(t, args...)
		wantError(t, r, exitFailure, url)
		t.Logf("%s: %s", args[0], r.stderr)
	}
	// register does not give up: it says the registration is pending and
	// keeps retrying until written or interrupted; it never says registered.
	p := startCLI(t, "register", "--timeout", "2s", url, "Arith", "tcp@127.0.0.1:18972")
	waitFor(t, step, "pending", func() bool { return strings.Contains(p.stdout.String(), "pending Arith tcp@127.0.0.1:18972") })
	p.signal(t, os.Interrupt)
	code := p.wait(t, step)
	if out := p.stdout.String(); strings.Contains(out, "registered") {
		t.Errorf("register printed registered against an unreachable registry:\n%s", out)
	}
	t.Logf("register: exit %d:\n%s%s", code, p.stdout.String(), p.stderr.String())
}
