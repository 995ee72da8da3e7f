package examples_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The commands of README.md and examples/README.md are run by
// TestDocCommandsRun (docs_run_test.go, with the registries' build tags).
// Every command the docs show must be listed here: either how the test runs
// it, or why it does not. A command added to the docs and not listed here
// fails TestDocCommandsListed, and so does an entry the docs no longer show,
// so the docs and the code cannot drift apart.

// docFiles are the documents whose commands are run, from the module root.
var docFiles = []string{"README.md", "examples/README.md"}

// docRun says how one documented command runs.
type docRun struct {
	// skip is why the test does not run the command; empty means it runs.
	skip string
	// background: the command serves until interrupted; the test starts it,
	// waits for ready in its output (or for its -addr to listen) and stops
	// it with SIGINT at the end of its group, expecting exit status 0.
	background bool
	ready      string
	// want must appear in the output of a command run to completion.
	want string
	// finally must appear in a background command's output before the end
	// of its group.
	finally string
	// check is a discovery command polled until it shows the background
	// command's -addr: the server registered where the docs say.
	check string
	// prefix, for a fragment such as "-addr 127.0.0.1:8973": the command
	// it is given to. The generic server's URLs have it as prefix: that
	// command runs once with each of them in place of URL.
	prefix string
	// group: background commands of one group run together; they are
	// stopped when a command of another group starts.
	group string
}

const genericServer = `go run -tags "etcd consul zookeeper mdns" ./examples/arithserver -addr 127.0.0.1:8972 -registry URL`

const (
	noMulticast  = "sends multicast: runs only inside a network namespace (scripts/test-mdns.sh runs examples/mdns/example_test.go there)"
	startsServer = "installs and starts a registry on its well-known port; the test starts the same server on a free port"
)

// docCommands lists every command of the docs (after the substitution of
// test addresses), keyed by its text as written.
var docCommands = map[string]docRun{
	// README.md
	"go run ./examples/quickstart": {want: "failed calls: 0", group: "quickstart"},
	"./scripts/test.sh":            {skip: "runs every test, this one included"},
	`go install -tags "etcd consul zookeeper mdns" ./cmd/discovery ./cmd/gateway`: {skip: "installs into GOBIN; the test builds the same packages and runs them as discovery and gateway"},
	"discovery list etcd://127.0.0.1:2379/services":                               {want: "", group: "cli"},
	"discovery watch etcd://127.0.0.1:2379/services Arith":                        {background: true, ready: "Arith: 0 instance(s)", finally: "tcp@10.0.0.1:8972", group: "cli"},
	"discovery watch --changes etcd://127.0.0.1:2379/services Arith":              {background: true, ready: "Arith: 0 instance(s)", finally: "Arith: joined tcp@10.0.0.1:8972 meta=weight=2", group: "cli"},
	"discovery register etcd://127.0.0.1:2379/services Arith tcp@10.0.0.1:8972 --meta weight=2 --ttl 10s": {
		background: true, ready: "registered Arith tcp@10.0.0.1:8972", group: "cli"},
	"discovery drain etcd://127.0.0.1:2379/services Arith tcp@10.0.0.1:8972":    {want: "drained Arith tcp@10.0.0.1:8972", group: "cli"},
	"discovery ui etcd://127.0.0.1:2379/services":                               {skip: "serves on the fixed 127.0.0.1:8081 and tests use free ports only; cmd/discovery's TestUICommand (drain_etcd_test.go) runs it against etcd with --listen 127.0.0.1:0"},
	"gateway --registry etcd://127.0.0.1:2379/services --listen 127.0.0.1:8080": {background: true, ready: "gateway on http://127.0.0.1:8080", group: "cli"},

	// examples/README.md, the table
	"go run ./examples/arithserver -addr 127.0.0.1:8972":                                     {background: true, group: "static"},
	"-addr 127.0.0.1:8973":                                                                   {background: true, prefix: "go run ./examples/arithserver", group: "static"},
	"go run ./examples/p2p/client -registry p2p://tcp@127.0.0.1:8972":                        {want: "4 * 10 = 40", group: "static"},
	"go run ./examples/multi/client -registry multi://tcp@127.0.0.1:8972,tcp@127.0.0.1:8973": {want: "after Update to", group: "static"},
	"go run -tags etcd ./examples/etcd/server -etcd 127.0.0.1:2379 -base /rpcx_test -addr 127.0.0.1:8972": {
		background: true, group: "etcd"},
	"go run -tags etcd ./examples/etcd/client -etcd 127.0.0.1:2379 -base /rpcx_test": {background: true, ready: "(from tcp@127.0.0.1:8972)", group: "etcd"},
	"go run -tags zookeeper ./examples/zookeeper/server -zkAddr localhost:2181 -base /rpcx_test -addr localhost:8972": {
		background: true, group: "zookeeper"},
	"go run -tags zookeeper ./examples/zookeeper/client -zkAddr localhost:2181 -base /rpcx_test": {background: true, ready: "localhost:8972", group: "zookeeper"},
	"go run -tags consul ./examples/consul/server -addr localhost:8972 -consulAddr localhost:8500 -base /rpcx_test": {
		background: true, group: "consul"},
	"-mode kv": {skip: "the consul server's default, so the command before it already runs it"},
	"-mode catalog": {background: true, prefix: "go run -tags consul ./examples/consul/server -addr localhost:8973 -consulAddr localhost:8500",
		check: "discovery list consul://localhost:8500 Arith", group: "consul"},
	"go run -tags consul ./examples/consul/client -consulAddr localhost:8500 -base /rpcx_test": {background: true, ready: "localhost:8972", group: "consul"},
	"go run -tags mdns ./examples/mdns/server -addr 127.0.0.1:8972":                            {skip: noMulticast},
	"go run -tags mdns ./examples/mdns/client -servers 1":                                      {skip: noMulticast},
	"go run ./examples/grpc": {want: "", group: "grpc"},
	"-registry":              {skip: "a flag name in prose (the gRPC example's -registry takes any URL)"},

	"bash examples/gateway/run.sh":                             {skip: "run as written by examples/gateway's TestSeedTopology (on free ports, PORT_BASE), which builds and starts a 3-server Consul cluster: too heavy to run twice"},
	`curl -d '{"A":6,"B":7}' http://127.0.0.1:18580/Arith/Mul`: {skip: "the call TestSeedTopology makes through the gateway run.sh starts, in a loop, checking C=42"},
	"kubernetes -serve :9000 -registry k8s:///echo:grpc":       {skip: "the image's command inside a pod of a real cluster; examples/kubernetes's TestExample runs the same program in serve mode with POD_NAME set, against a real kube-apiserver"},
	"go run -tags kubernetes ./examples/kubernetes -registry 'k8s://default/echo:grpc?kubeconfig=/root/.kube/config'": {skip: "needs a cluster's kubeconfig; examples/kubernetes's TestExample runs the same program in watch mode with the test API server's kubeconfig"},

	// examples/README.md, the generic server and its URLs
	genericServer:                             {background: true, check: "discovery list URL Arith", group: "generic"},
	"etcd://127.0.0.1:2379/rpcx_test":         {prefix: genericServer},
	"consul://127.0.0.1:8500/rpcx_test":       {prefix: genericServer},
	"zk://127.0.0.1:2181/rpcx_test":           {prefix: genericServer},
	"mdns://local?interface=lo":               {skip: noMulticast},
	"-registry 'mdns://local?interface=eth0'": {skip: noMulticast},

	// examples/README.md, starting the registries
	"apt-get install -y etcd-server && etcd --data-dir /tmp/etcd &":                                         {skip: startsServer},
	"bash scripts/install-zookeeper.sh && /usr/share/zookeeper/bin/zkServer.sh start-foreground &":          {skip: startsServer},
	`"$(bash scripts/install-consul.sh)" agent -dev -bind 127.0.0.1 -client 127.0.0.1 &`:                    {skip: startsServer},
	`go run -tags "etcd consul zookeeper mdns" ./cmd/discovery watch etcd://127.0.0.1:2379/rpcx_test Arith`: {background: true, ready: "Arith: ", group: "watch"},
}

// docCommand is one command as the docs show it.
type docCommand struct {
	file, text string
}

var (
	fence      = regexp.MustCompile("^```(\\w*)\\s*$")
	inlineCode = regexp.MustCompile("`([^`]+)`")
)

// extractDocCommands returns, in order, the lines of the sh code blocks of
// every doc (comments dropped) and, from examples/README.md, the inline code
// that is a command, a flag given to one, or a registry URL.
func extractDocCommands(t *testing.T, root string) []docCommand {
	t.Helper()
	var out []docCommand
	for _, f := range docFiles {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		inBlock, shell := false, false
		var para []string // prose lines: inline code may wrap over them
		flush := func() {
			if f == "examples/README.md" {
				for _, m := range inlineCode.FindAllStringSubmatch(strings.Join(para, " "), -1) {
					if s := strings.TrimSpace(m[1]); looksLikeCommand(s) {
						out = append(out, docCommand{f, s})
					}
				}
			}
			para = para[:0]
		}
		for line := range strings.Lines(string(b)) {
			line = strings.TrimRight(line, "\r\n")
			if m := fence.FindStringSubmatch(line); m != nil {
				flush()
				inBlock, shell = !inBlock, m[1] == "sh" || m[1] == "bash" || m[1] == "shell"
				continue
			}
			switch {
			case inBlock && shell:
				if cmd := stripComment(line); cmd != "" {
					out = append(out, docCommand{f, cmd})
				}
			case inBlock:
			case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "|") || strings.HasPrefix(line, "- "):
				flush()
				para = append(para, line)
			default:
				para = append(para, line)
			}
		}
		flush()
	}
	return out
}

func stripComment(line string) string {
	if i := strings.Index(line, " #"); i >= 0 {
		line = line[:i]
	}
	if strings.HasPrefix(strings.TrimSpace(line), "#") {
		return ""
	}
	return strings.TrimSpace(line)
}

func looksLikeCommand(s string) bool {
	for _, p := range []string{"go ", "./", "discovery ", "bash ", `"$(`, "-"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return strings.Contains(s, "://")
}

// TestDocCommandsListed: every command of the docs is run by
// TestDocCommandsRun or listed with the reason it is not, and every entry
// of the list is still in the docs.
func TestDocCommandsListed(t *testing.T) {
	cmds := extractDocCommands(t, moduleRootDir(t))
	if len(cmds) < 20 {
		t.Fatalf("only %d commands found in %v: is the extraction broken?", len(cmds), docFiles)
	}
	seen := map[string]bool{}
	for _, c := range cmds {
		seen[c.text] = true
		if _, ok := docCommands[c.text]; !ok {
			t.Errorf("%s: command %q is not run by the docs test: add it to docCommands (examples/docs_test.go) with how to run it, or why not", c.file, c.text)
		}
	}
	for text, r := range docCommands {
		if !seen[text] {
			t.Errorf("docCommands lists %q, which no doc shows any more: remove it", text)
		}
		if r.skip == "" && r.prefix == "" && r.group == "" {
			t.Errorf("docCommands[%q]: a command that runs needs a group", text)
		}
		if r.prefix != "" {
			if _, ok := docCommands[r.prefix]; !ok && !slices.ContainsFunc(cmds, func(c docCommand) bool { return strings.HasPrefix(r.prefix, "go run") }) {
				t.Errorf("docCommands[%q]: prefix %q unknown", text, r.prefix)
			}
		}
	}
}

func moduleRootDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}
