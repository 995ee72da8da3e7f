package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/seedforge/discovery/core"
)

// defaultTimeout bounds the registry round trips of a command.
const defaultTimeout = 10 * time.Second

// options are the flags of a subcommand; each command defines those it uses.
type options struct {
	json     bool
	timeout  time.Duration
	verbose  bool
	ttl      time.Duration // register
	changes  bool          // watch
	meta     metaFlag      // register
	health   string        // register
	listen   string        // ui
	services string        // ui
	set      map[string]bool
}

func newFlagSet(c *command) (*flag.FlagSet, *options) {
	o := &options{set: map[string]bool{}}
	fs := flag.NewFlagSet("discovery "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported as one line by run
	fs.Usage = func() {}
	fs.BoolVar(&o.json, "json", false, "print JSON for scripts instead of a table "+c.jsonDoc)
	fs.DurationVar(&o.timeout, "timeout", defaultTimeout, c.timeoutDoc)
	fs.BoolVar(&o.verbose, "verbose", false, "log the backend's and core's debug messages to stderr")
	if c.flags != nil {
		c.flags(fs, o)
	}
	return fs, o
}

// parse reads args, flags and positional arguments in any order ("--" ends
// the flags), and checks their number against c.params; a parameter written
// "[name]" is optional.
func parse(e *env, c *command, args []string) (*options, []string, error) {
	fs, o := newFlagSet(c)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printCommandHelp(e.stdout, c, fs)
		return nil, nil, flag.ErrHelp
	}
	if err != nil {
		return nil, nil, usageErrorf(c.name, "%v", dashes.Replace(err.Error()))
	}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if len(pos) > 0 {
		e.noteSecrets(pos[0]) // every command's first argument is the URL
	}
	required := 0
	for _, p := range c.params {
		if !strings.HasPrefix(p, "[") {
			required++
		}
	}
	switch {
	case len(pos) < required:
		return nil, nil, usageErrorf(c.name, "missing %s; usage: discovery %s [flags] %s", c.params[len(pos)], c.name, strings.Join(c.params, " "))
	case len(pos) > len(c.params):
		return nil, nil, usageErrorf(c.name, "unexpected argument %q; usage: discovery %s [flags] %s", pos[len(c.params)], c.name, strings.Join(c.params, " "))
	case o.timeout <= 0:
		return nil, nil, usageErrorf(c.name, "--timeout %v must be positive, e.g. --timeout 10s", o.timeout)
	}
	return o, pos, nil
}

// dashes writes the flag package's "-name" as "--name", as the help does.
var dashes = strings.NewReplacer("defined: -", "defined: --", "argument: -", "argument: --", "for flag -", "for flag --")

// parseInterspersed lets flags follow positional arguments, as in
// "discovery register URL svc tcp@h:1 --meta k=v": the flag package stops
// at the first non-flag, so parsing resumes after each one.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil // everything after "--" is positional
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// metaFlag collects repeated --meta k=v.
type metaFlag struct{ m core.Metadata }

func (f *metaFlag) String() string { return "" }

func (f *metaFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	switch {
	case !ok || k == "":
		return fmt.Errorf("write metadata as key=value, e.g. --meta weight=2")
	}
	if _, dup := f.m[k]; dup {
		return fmt.Errorf("key %q given twice", k)
	}
	if f.m == nil {
		f.m = core.Metadata{}
	}
	f.m[k] = v
	return nil
}

func printRootHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: discovery <command> [flags] URL [arguments]

Lists, watches and registers the instances of a service in a registry.

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, strings.Join(c.params, " "), c.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, `
URL names the registry and its options (query parameters), e.g.
  etcd://[user:pass@]127.0.0.1:2379/services?ttl=10s
  consul://[token@]127.0.0.1:8500
  zk://[user:pass@]127.0.0.1:2181/rpcx
  mdns://local?interface=eth0
  p2p://tcp@127.0.0.1:8972            multi://tcp@h1:8972,tcp@h2:8972
The options group=G and version=V filter every list. Schemes compiled into
this binary: %s.
Other schemes need a build with their tag, e.g.
  go install -tags "etcd consul zookeeper mdns" ./cmd/discovery

Flags may come before or after the arguments. Every command takes --json,
--timeout and --verbose; run 'discovery <command> --help' for its flags.

Exit status: 0 success; 1 registry failure (unreachable, timeout, refused);
2 usage error (unknown command or flag, missing argument, bad URL, address,
metadata or ttl). Errors are one line on stderr starting with "discovery: ";
passwords and tokens of the URL are never printed.
`, strings.Join(core.Schemes(), ", "))
}

func printCommandHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: discovery %s [flags] %s\n\n%s\n\nFlags:\n", c.name, strings.Join(c.params, " "), strings.TrimSpace(c.doc))
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0s" {
			usage += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, usage)
	})
}
