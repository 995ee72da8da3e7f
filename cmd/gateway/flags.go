package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/seedforge/discovery/gateway"
	"github.com/seedforge/discovery/selector"
)

// options are the command line.
type options struct {
	registry    string
	listen      string
	openTimeout time.Duration
	maxBody     int64
	defaults    gateway.Service
	services    map[string]gateway.Service
	noUI        bool
	uiToken     string // from DISCOVERY_UI_TOKEN: a flag would show in ps
}

const usage = `usage: gateway --registry URL [--listen 127.0.0.1:8080] [flags]

Serves the services of the registry at URL over HTTP:
  POST /{service}/{method}   JSON body, JSON reply
  POST /rpc                  {"service": "...", "method": "...", "request": {...}}
  rpcx's HTTP gateway headers (X-RPCX-ServicePath, X-RPCX-ServiceMethod, ...)

Flags:
  --registry URL        registry to read services from (any compiled-in backend)
  --listen ADDR         address to serve on (default 127.0.0.1:8080, loopback only)
  --selector NAME       default selector: p2c, random, roundrobin, weighted,
                        consistenthash, leasttps (default p2c)
  --hash-header H       default header keying consistenthash
  --fail MODE           default fail mode: failover, failfast, failtry, failbackup
  --retries N           default retries after the first attempt (0: selector's default 3, -1: none)
  --idempotent          every service may be retried after a call may have reached it
  --timeout D           default deadline of a call (default 10s); X-Request-Timeout overrides
  --max-body BYTES      largest request body (default 1048576)
  --open-timeout D      bound on connecting to the registry at start (default 30s)
  --service 'NAME:key=value,...'   settings of one service, repeatable; keys:
                        selector, hash_header, fail, retries, idempotent, timeout
  --no-ui               do not serve the dashboard at /ui

Environment:
  DISCOVERY_UI_TOKEN    token of the dashboard (/ui?token=...); required to
                        listen on a non-loopback address
`

func printHelp(w io.Writer) { io.WriteString(w, usage) }

// serviceFlag collects --service values.
type serviceFlag []string

func (s *serviceFlag) String() string     { return strings.Join(*s, " ") }
func (s *serviceFlag) Set(v string) error { *s = append(*s, v); return nil }

func parseFlags(args []string) (*options, error) {
	o := &options{services: map[string]gateway.Service{}}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var (
		fail, idem = "", false
		specs      serviceFlag
	)
	fs.StringVar(&o.registry, "registry", "", "")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "")
	fs.DurationVar(&o.openTimeout, "open-timeout", 30*time.Second, "")
	fs.Int64Var(&o.maxBody, "max-body", gateway.DefaultMaxBodyBytes, "")
	fs.StringVar(&o.defaults.Selector, "selector", gateway.DefaultSelector, "")
	fs.StringVar(&o.defaults.HashHeader, "hash-header", "", "")
	fs.StringVar(&fail, "fail", "failover", "")
	fs.IntVar(&o.defaults.Retries, "retries", 0, "")
	fs.BoolVar(&idem, "idempotent", false, "")
	fs.DurationVar(&o.defaults.Timeout, "timeout", gateway.DefaultTimeout, "")
	fs.Var(&specs, "service", "")
	fs.BoolVar(&o.noUI, "no-ui", false, "")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil, err
		}
		return nil, fmt.Errorf("%v (see 'gateway --help')", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: every setting is a flag (see 'gateway --help')", fs.Arg(0))
	}
	if o.registry == "" {
		return nil, fmt.Errorf("missing --registry URL, e.g. --registry etcd://127.0.0.1:2379/services")
	}
	if o.maxBody <= 0 {
		return nil, fmt.Errorf("--max-body must be positive")
	}
	var err error
	if o.defaults.FailMode, err = parseFailMode(fail); err != nil {
		return nil, err
	}
	o.defaults.Idempotent = idem
	o.uiToken = os.Getenv("DISCOVERY_UI_TOKEN")
	for _, spec := range specs {
		name, svc, err := parseService(spec, o.defaults)
		if err != nil {
			return nil, err
		}
		o.services[name] = svc
	}
	return o, nil
}

// parseService reads 'NAME:key=value,...' on top of the defaults.
func parseService(spec string, s gateway.Service) (string, gateway.Service, error) {
	name, settings, _ := strings.Cut(spec, ":")
	if name == "" {
		return "", s, fmt.Errorf("--service %q: write NAME:key=value,... e.g. Arith:selector=roundrobin,idempotent=true", spec)
	}
	for _, kv := range strings.Split(settings, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return "", s, fmt.Errorf("--service %s: %q is not key=value", name, kv)
		}
		var err error
		switch k {
		case "selector":
			s.Selector = v
		case "hash_header":
			s.HashHeader = v
		case "fail":
			s.FailMode, err = parseFailMode(v)
		case "retries":
			s.Retries, err = strconv.Atoi(v)
		case "idempotent":
			s.Idempotent, err = strconv.ParseBool(v)
		case "timeout":
			s.Timeout, err = time.ParseDuration(v)
		default:
			return "", s, fmt.Errorf("--service %s: unknown key %q; keys: selector, hash_header, fail, retries, idempotent, timeout", name, k)
		}
		if err != nil {
			return "", s, fmt.Errorf("--service %s: %s=%q: %v", name, k, v, err)
		}
	}
	return name, s, nil
}

func parseFailMode(s string) (selector.FailMode, error) {
	for _, m := range []selector.FailMode{selector.Failover, selector.Failfast, selector.Failtry, selector.Failbackup} {
		if strings.EqualFold(s, m.String()) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown fail mode %q: use failover, failfast, failtry or failbackup", s)
}
