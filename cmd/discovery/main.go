// Command discovery inspects and uses service registries from the command
// line: list, get and watch the instances of a service, and register one
// until interrupted. It speaks every backend compiled into it:
//
//	go install -tags "etcd consul zookeeper mdns" ./cmd/discovery
//	discovery get etcd://127.0.0.1:2379/services Arith
//	discovery register consul://127.0.0.1:8500 Arith tcp@10.0.0.1:8972 --meta weight=2 --ttl 10s
//
// Exit status: 0 success, 1 registry failure (unreachable, timeout,
// refused), 2 usage error (unknown command or flag, missing or extra
// argument, bad URL, address, metadata or ttl, a command the backend
// cannot do). Errors are one line on
// stderr starting with "discovery: "; secrets of the URL never appear.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/seedforge/discovery/core"
)

// Exit codes, as etcdctl and consul use them.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// command is one subcommand.
type command struct {
	name       string
	params     []string // positional arguments; "[name]" is optional
	summary    string   // one line, for the root help
	doc        string   // the subcommand's help, after its usage line
	jsonDoc    string   // what --json prints
	timeoutDoc string   // what --timeout bounds
	flags      func(fs *flag.FlagSet, o *options)
	run        func(ctx context.Context, e *env, c *command, args []string) error
}

var commands = []*command{listCmd, getCmd, watchCmd, registerCmd, drainCmd, undrainCmd, uiCmd}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// env is where a run writes, and the secrets its output must not show.
type env struct {
	stdout, stderr io.Writer
	secrets        []string
	level          slog.LevelVar // of the logs on stderr
	verbose        bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, a second one ends the process at once (the
	// default action), e.g. when a deregistration hangs.
	context.AfterFunc(ctx, stop)
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit code. ctx ends on
// SIGINT or SIGTERM.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	err := dispatch(ctx, e, args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintln(stderr, "discovery: "+e.oneLine(err.Error()))
	var u *usageError
	if errors.As(err, &u) || errors.Is(err, core.ErrInvalid) || errors.Is(err, core.ErrUnsupported) {
		return exitUsage
	}
	return exitFailure
}

func dispatch(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageErrorf("", "missing command; commands: %s (see 'discovery --help')", commandNames())
	}
	switch name := args[0]; name {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && name == "help" {
			c := lookup(args[1])
			if c == nil {
				return usageErrorf("", "help: unknown command %q; commands: %s", args[1], commandNames())
			}
			fs, _ := newFlagSet(c)
			printCommandHelp(e.stdout, c, fs)
			return nil
		}
		printRootHelp(e.stdout)
		return nil
	default:
		c := lookup(name)
		if c == nil {
			if strings.HasPrefix(name, "-") {
				return usageErrorf("", "flag %s given before the command; flags go after it, e.g. discovery get --json URL service", name)
			}
			return usageErrorf("", "unknown command %q; commands: %s (see 'discovery --help')", name, commandNames())
		}
		return c.run(ctx, e, c, args[1:])
	}
}

func commandNames() string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

// usageError is a mistake on the command line: exit code 2.
type usageError struct {
	cmd string // the subcommand, "" for the root
	msg string
}

func (u *usageError) Error() string {
	if u.cmd == "" {
		return u.msg
	}
	return fmt.Sprintf("%s: %s (see 'discovery %s --help')", u.cmd, u.msg, u.cmd)
}

func usageErrorf(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// oneLine flattens msg to one line, drops the "discovery: " prefixes of
// core's sentinel errors (the whole line already starts with it) and hides
// the URL's secrets, should any error have echoed them.
func (e *env) oneLine(msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	msg = strings.ReplaceAll(msg, "discovery: ", "")
	return e.scrub(msg)
}
