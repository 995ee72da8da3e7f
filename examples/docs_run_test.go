//go:build etcd && consul && zookeeper

package examples_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/consul/consultest"
	"github.com/seedforge/discovery/backend/zookeeper/zktest"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/proctest"
	"github.com/seedforge/discovery/internal/testserver"
)

// TestDocCommandsRun runs every command of README.md and examples/README.md
// that docCommands does not exempt, as written, against real registries
// started on free ports: only the addresses change.
func TestDocCommandsRun(t *testing.T) {
	root := moduleRootDir(t)
	cmds := extractDocCommands(t, root)
	etcd := testserver.StartEtcd(t).Endpoint()
	zk := zktest.Start(t).Addr()
	consul := consultest.Start(t, consultest.Options{}).Addr
	a, b, gw := proctest.FreeAddr(t), proctest.FreeAddr(t), proctest.FreeAddr(t)
	subst := strings.NewReplacer(
		"127.0.0.1:2379", etcd,
		"localhost:2181", zk, "127.0.0.1:2181", zk,
		"localhost:8500", consul, "127.0.0.1:8500", consul,
		"127.0.0.1:8972", a, "localhost:8972", a,
		"127.0.0.1:8973", b, "localhost:8973", b,
		"127.0.0.1:8080", gw,
	)

	// Build every program the docs run, once.
	pkgs := map[string]bool{"cmd/discovery": true}
	for _, c := range cmds {
		if r := docCommands[c.text]; r.skip == "" {
			if pkg, _ := program(t, r.prefix+" "+c.text); pkg != "" {
				pkgs[pkg] = true
			}
		}
	}
	var list []string
	for p := range pkgs {
		list = append(list, p)
	}
	bins := proctest.Build(t, proctest.BuildOptions{Tags: "etcd consul zookeeper"}, list...)

	var urls []string // the generic server's registries
	for _, c := range cmds {
		if docCommands[c.text].prefix == genericServer {
			urls = append(urls, c.text)
		}
	}

	d := &docRunner{t: t, bins: bins, subst: subst}
	defer d.endGroup()
	ran := 0
	for _, c := range cmds {
		r := docCommands[c.text]
		if r.skip != "" || r.prefix == genericServer {
			continue
		}
		if r.group != d.group {
			d.endGroup()
			d.group = r.group
		}
		text := strings.TrimSpace(r.prefix + " " + c.text)
		if c.text == genericServer {
			for _, u := range urls {
				d.run(c.file, strings.Replace(text, "URL", u, 1), r, u)
				d.endGroup()
				ran++
			}
			continue
		}
		d.run(c.file, text, r, "")
		ran++
	}
	t.Logf("ran %d documented commands", ran)
}

// docRunner runs the commands of one group; background ones until the
// group ends.
type docRunner struct {
	t       *testing.T
	bins    map[string]string
	subst   *strings.Replacer
	group   string
	running []*docProc
}

type docProc struct {
	text string
	p    *proctest.Proc
	r    docRun
}

func (d *docRunner) run(file, text string, r docRun, url string) {
	t := d.t
	t.Helper()
	text = d.subst.Replace(text)
	pkg, args := program(t, text)
	bin := d.bins[pkg]
	if bin == "" {
		t.Fatalf("%s: %q: no program built for %s", file, text, pkg)
	}
	if !r.background {
		out, err := proctest.RunErr(bin, args...)
		if err != nil || !strings.Contains(out, d.subst.Replace(r.want)) {
			t.Fatalf("%s: %q: %v, output lacks %q:\n%s", file, text, err, r.want, out)
		}
		return
	}
	for _, running := range d.running {
		if running.text == text {
			return // the docs name the same server again (p2p, then multi)
		}
	}
	p := proctest.Start(t, bin, args...)
	d.running = append(d.running, &docProc{text: text, p: p, r: r})
	if r.ready != "" {
		d.waitOutput(p, text, d.subst.Replace(r.ready))
	} else if addr := flagValue(args, "-addr"); addr != "" {
		proctest.WaitListening(t, addr)
	}
	if r.check != "" {
		check := d.subst.Replace(strings.Replace(r.check, "URL", url, 1))
		addr := flagValue(args, "-addr")
		_, cargs := program(t, check)
		coretest.Poll(t, time.Minute, fmt.Sprintf("%q to show %s", check, addr), func() error {
			out, err := proctest.RunErr(d.bins["cmd/discovery"], cargs...)
			if err != nil || !strings.Contains(out, addr) {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		})
	}
}

func (d *docRunner) waitOutput(p *proctest.Proc, text, want string) {
	d.t.Helper()
	coretest.Poll(d.t, time.Minute, fmt.Sprintf("%q to print %q", text, want), func() error {
		select {
		case <-p.Done():
			return fmt.Errorf("exited: %s", p.Output())
		default:
		}
		if !strings.Contains(p.Output(), want) {
			return fmt.Errorf("output so far:\n%s", p.Output())
		}
		return nil
	})
}

// endGroup checks what its background commands must show, then
// interrupts them as Ctrl-C would: each must exit with status 0.
func (d *docRunner) endGroup() {
	t := d.t
	t.Helper()
	for _, r := range d.running {
		if r.r.finally != "" {
			d.waitOutput(r.p, r.text, d.subst.Replace(r.r.finally))
		}
	}
	for i := len(d.running) - 1; i >= 0; i-- {
		r := d.running[i]
		r.p.Signal(syscall.SIGINT)
		select {
		case <-r.p.Done():
		case <-time.After(20 * time.Second):
			t.Errorf("%q ignored SIGINT", r.text)
		}
		if err := r.p.Stop(t); err != nil {
			t.Errorf("%q after SIGINT: %v\n%s", r.text, err, r.p.Output())
		}
		// A clean Ctrl-C is not an error (rpcx used to log "http: Server
		// closed" as one).
		if out := r.p.Output(); strings.Contains(out, "ERROR") || strings.Contains(out, "Server closed") {
			t.Errorf("%q logged an error on a clean Ctrl-C:\n%s", r.text, out)
		}
	}
	d.running = nil
}

// program maps a command line to the package it runs and its arguments:
// "go run [-tags T] ./pkg args", "discovery args" and "gateway args".
func program(t *testing.T, text string) (string, []string) {
	t.Helper()
	argv, err := splitShell(strings.TrimSpace(text))
	if err != nil {
		t.Fatalf("%q: %v", text, err)
	}
	switch {
	case len(argv) > 0 && (argv[0] == "discovery" || argv[0] == "gateway"):
		return "cmd/" + argv[0], argv[1:]
	case len(argv) > 2 && argv[0] == "go" && argv[1] == "run":
		rest := argv[2:]
		if rest[0] == "-tags" && len(rest) > 2 {
			rest = rest[2:]
		}
		return filepath.Clean(strings.TrimPrefix(rest[0], "./")), rest[1:]
	}
	return "", nil
}

// splitShell splits a command line as sh does for words, single and double
// quotes; nothing else of sh is used in the docs' runnable commands.
func splitShell(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}
