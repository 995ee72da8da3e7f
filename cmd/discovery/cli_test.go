package main

import (
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seedforge/discovery/internal/leaktest"
)

// TestUsageErrors: every mistake on the command line is exit 2 with one
// line on stderr that says what to fix, before any network access.
func TestUsageErrors(t *testing.T) {
	static := "multi://tcp@127.0.0.1:1,tcp@127.0.0.1:2"
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"no command", nil, []string{"missing command", "list, get, watch, register"}},
		{"unknown command", []string{"lsit", static, "A"}, []string{`unknown command "lsit"`}},
		{"flag before command", []string{"--json", "get", static, "A"}, []string{"flag --json given before the command"}},
		{"help for unknown command", []string{"help", "nope"}, []string{`help: unknown command "nope"`}},
		{"unknown flag", []string{"get", "--bogus", static, "A"}, []string{"get: flag provided but not defined: --bogus", "discovery get --help"}},
		{"missing URL", []string{"get"}, []string{"get: missing URL"}},
		{"missing service", []string{"get", static}, []string{"get: missing service"}},
		{"extra argument", []string{"get", static, "A", "B"}, []string{`unexpected argument "B"`}},
		{"watch missing service", []string{"watch", static}, []string{"watch: missing service"}},
		{"register missing address", []string{"register", "etcd://127.0.0.1:1", "A"}, []string{"register: missing network@addr"}},
		{"bad address", []string{"register", "etcd://127.0.0.1:1", "A", "127.0.0.1:8972"}, []string{"no network@ prefix", "tcp@host:port"}},
		{"bad ttl", []string{"register", "etcd://127.0.0.1:1", "A", "tcp@127.0.0.1:1", "--ttl", "ten"}, []string{`invalid value "ten" for flag --ttl`}},
		{"negative ttl", []string{"register", "etcd://127.0.0.1:1", "A", "tcp@127.0.0.1:1", "--ttl", "-1s"}, []string{"--ttl -1s must be positive"}},
		{"bad meta", []string{"register", "etcd://127.0.0.1:1", "A", "tcp@127.0.0.1:1", "--meta", "weight"}, []string{"key=value"}},
		{"duplicate meta", []string{"register", "etcd://127.0.0.1:1", "A", "tcp@127.0.0.1:1", "--meta", "a=1", "--meta", "a=2"}, []string{`key "a" given twice`}},
		{"register in a static list", []string{"register", "p2p://tcp@127.0.0.1:1", "A", "tcp@127.0.0.1:1"}, []string{"p2p:// has no registry"}},
		{"bad timeout", []string{"get", "--timeout", "0s", static, "A"}, []string{"--timeout 0s must be positive"}},
		{"URL without scheme", []string{"get", "127.0.0.1:2379", "A"}, []string{"has no scheme://"}},
		{"unknown scheme", []string{"get", "nosuch://h", "A"}, []string{`unknown scheme "nosuch"`, "known schemes: ", "inprocess", "multi", "p2p"}},
		{"unknown URL option", []string{"get", static + "?bogus=1", "A"}, []string{"unknown option(s) bogus"}},
		{"bad service name", []string{"get", static, "a/b"}, []string{`service name "a/b" must not contain '/'`}},
		{"bad address in URL", []string{"get", "multi://127.0.0.1:1", "A"}, []string{"no network@ prefix"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, runCLI(t, c.args...), exitUsage, c.want...)
		})
	}
}

// TestHeavySchemesNotCompiledIn: a scheme of a backend left out of the
// build says which tag brings it in, exit 2. Only without that tag.
func TestHeavySchemesNotCompiledIn(t *testing.T) {
	for scheme, tag := range map[string]string{"etcd": "etcd", "consul": "consul", "zk": "zookeeper", "mdns": "mdns", "k8s": "kubernetes"} {
		if slices.Contains(buildTags, tag) {
			continue
		}
		r := runCLI(t, "get", scheme+"://127.0.0.1:1", "Arith")
		wantError(t, r, exitUsage, "build with -tags "+tag)
	}
}

// TestHelp: --help, -h and "help" work on the root and every subcommand,
// print to stdout and exit 0.
func TestHelp(t *testing.T) {
	root := [][]string{{"--help"}, {"-h"}, {"help"}}
	for _, args := range root {
		r := runCLI(t, args...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("%q: exit %d, stderr %q", args, r.code, r.stderr)
		}
		for _, want := range []string{"Usage: discovery <command>", "list URL [service]", "get URL service", "watch URL service",
			"register URL service network@addr", "Exit status: 0 success; 1 registry failure", "Schemes compiled into\nthis binary: ", "inprocess, ", "multi, p2p"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%q lacks %q:\n%s", args, want, r.stdout)
			}
		}
	}
	for _, c := range []struct {
		name string
		want []string
	}{
		{"list", []string{"URL [service]", "every service of the registry", "--json", "--timeout duration", "(default 10s)"}},
		{"get", []string{"URL service", "inactive", "--json", "--timeout duration"}},
		{"watch", []string{"URL service", "SIGINT or SIGTERM", "NDJSON", "--timeout duration"}},
		{"register", []string{"URL service network@addr", "--meta key=value", "--ttl duration", "deregisters"}},
	} {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}, {c.name, "etcd://x", "--help"}} {
			r := runCLI(t, args...)
			if r.code != 0 || r.stderr != "" {
				t.Errorf("%q: exit %d, stderr %q", args, r.code, r.stderr)
			}
			if !strings.HasPrefix(r.stdout, "Usage: discovery "+c.name+" [flags] ") {
				t.Errorf("%q: no usage line:\n%s", args, r.stdout)
			}
			for _, want := range c.want {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("%q lacks %q:\n%s", args, want, r.stdout)
				}
			}
		}
	}
}

// TestGetAndListOffline: multi:// needs no server, so get and list print
// its addresses as a table and as JSON that parses, flags before or after
// the arguments.
func TestGetAndListOffline(t *testing.T) {
	url := "multi://tcp@127.0.0.1:1,tcp@127.0.0.1:2"
	for _, cmd := range []string{"get", "list"} {
		r := runCLI(t, cmd, url, "Arith")
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("%s: exit %d, stderr %q", cmd, r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		want := []string{
			"ADDRESS          WEIGHT  GROUP  STATE   TPS  META",
			"tcp@127.0.0.1:1  1       -      active  -    -",
			"tcp@127.0.0.1:2  1       -      active  -    -",
		}
		if !slices.Equal(lines, want) {
			t.Errorf("%s table:\n%s\nwant:\n%s", cmd, r.stdout, strings.Join(want, "\n"))
		}
		for _, args := range [][]string{{cmd, "--json", url, "Arith"}, {cmd, url, "Arith", "--json"}, {cmd, "--json", "--", url, "Arith"}} {
			r = runCLI(t, args...)
			if r.code != 0 {
				t.Fatalf("%q: exit %d: %s", args, r.code, r.stderr)
			}
			list := parseList(t, r)
			if len(list) != 2 {
				t.Fatalf("%q: %+v", args, list)
			}
			for i, addr := range []string{"tcp@127.0.0.1:1", "tcp@127.0.0.1:2"} {
				if list[i].Service != "Arith" || list[i].Addr != addr || list[i].Meta == nil || len(list[i].Meta) != 0 {
					t.Errorf("%q: instance %d = %+v", args, i, list[i])
				}
			}
			if !strings.Contains(r.stdout, `"meta":{}`) {
				t.Errorf("empty metadata is not {}: %s", r.stdout)
			}
		}
	}
	// An in-process registry seen from a new process is empty, not an error.
	r := runCLI(t, "get", "inprocess://demo", "Arith")
	if r.code != 0 || r.stdout != "no instances of Arith\n" {
		t.Errorf("inprocess get: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "get", "--json", "inprocess://demo", "Arith")
	if r.code != 0 || r.stdout != "[]\n" {
		t.Errorf("inprocess get --json: exit %d, stdout %q", r.code, r.stdout)
	}
}

// TestWatchOffline: watch prints the list at once, one JSON array per line,
// and SIGINT or SIGTERM ends it with exit 0; the table form too.
func TestWatchOffline(t *testing.T) {
	leaktest.Check(t)
	url := "multi://tcp@127.0.0.1:1,tcp@127.0.0.1:2"
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		p := startCLI(t, "watch", "--json", url, "Arith")
		waitFor(t, 20*time.Second, "the first list", func() bool { return len(p.lists(t)) == 1 })
		if l := p.lists(t)[0]; len(l) != 2 || l[0].Addr != "tcp@127.0.0.1:1" || l[1].Addr != "tcp@127.0.0.1:2" {
			t.Errorf("first list: %+v", l)
		}
		p.signal(t, sig)
		if code := p.wait(t, 20*time.Second); code != 0 {
			t.Errorf("watch after %v: exit %d, want 0; stderr: %s", sig, code, p.stderr)
		}
		if s := p.stderr.String(); s != "" {
			t.Errorf("watch stderr: %q", s)
		}
	}
	p := startCLI(t, "watch", url, "Arith")
	waitFor(t, 20*time.Second, "the table", func() bool { return strings.Contains(p.stdout.String(), "tcp@127.0.0.1:2  1") })
	out := p.stdout.String()
	if !strings.Contains(out, " Arith: 2 instance(s)\nADDRESS ") {
		t.Errorf("watch table:\n%s", out)
	}
	p.signal(t, os.Interrupt)
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Errorf("watch: exit %d", code)
	}
}

// TestSecretsNotPrinted: errors about URLs with passwords never show them,
// whatever the failure (usage or not).
func TestSecretsNotPrinted(t *testing.T) {
	const secret = "Sup3rSecretPW"
	for _, args := range [][]string{
		{"get", "nosuch://root:" + secret + "@127.0.0.1:1", "A"},
		{"get", "multi://tcp@127.0.0.1:1?password=" + secret, "A"},
		{"get", "etcd://root:" + secret + "@127.0.0.1:1", "A"},
		{"get", "no scheme root:" + secret + "@127.0.0.1:1", "A"},
		{"register", "--verbose", "nosuch://root:" + secret + "@127.0.0.1:1", "A", "tcp@127.0.0.1:1"},
	} {
		r := runCLI(t, args...)
		if r.code == 0 || !strings.HasPrefix(r.stderr, "discovery: ") {
			t.Errorf("%q: exit %d, stderr %q", args, r.code, r.stderr)
		}
		if strings.Contains(r.stderr+r.stdout, secret) {
			t.Errorf("%q printed the password: %s", args, r.stderr)
		}
	}
}

// TestListServicesStatic: a fixed list serves every name, shown as "*".
func TestListServicesStatic(t *testing.T) {
	r := runCLI(t, "list", "multi://tcp@127.0.0.1:1,tcp@127.0.0.1:2")
	if r.code != 0 || !containsFields(r.stdout, "SERVICE", "INSTANCES") || !containsFields(r.stdout, "*", "2") {
		t.Fatalf("exit %d, stderr %q:\n%s", r.code, r.stderr, r.stdout)
	}
}
