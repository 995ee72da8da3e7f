package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/seedforge/discovery/core"
)

// Open connects to the registry named by rawURL. Policy options are query
// parameters understood by every backend:
//
//	ttl=30s                 how long a record outlives its last refresh
//	interval=10s            refresh period (default ttl/3)
//	deregister_timeout=5s   bound on the deletes done by Close
//	group=blue, version=2   default filters of every watch
//	self_preservation=0.5   hold back a sudden loss of more than half the instances
//	self_preservation_hold=2m  for at most this long
//
// Each backend adds its own; an unknown parameter is an error naming the
// known ones. Secrets in the URL never appear in errors or logs.
func Open(rawURL string) (*Client, error) {
	return OpenContext(context.Background(), rawURL, Config{})
}

// OpenConfig is Open with policies set in code. A policy given both in cfg
// and in the URL is an error, so that neither is silently dropped.
func OpenConfig(rawURL string, cfg Config) (*Client, error) {
	return OpenContext(context.Background(), rawURL, cfg)
}

// OpenContext is OpenConfig bounded by ctx: a backend that connects or logs
// in while opening (etcd with a user) gives up when ctx ends. ctx does not
// bound the Client's life; Close does.
func OpenContext(ctx context.Context, rawURL string, cfg Config) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg.Secrets = append(slices.Clip(cfg.Secrets), core.URLSecrets(rawURL)...)
	c, err := openContext(ctx, rawURL, cfg)
	// Fail closed: whatever a backend or its client put in the error, the
	// URL's secrets are not shown.
	return c, core.RedactError(err, cfg.Secrets)
}

func openContext(ctx context.Context, rawURL string, cfg Config) (*Client, error) {
	t, err := core.ParseTarget(rawURL)
	if err != nil {
		return nil, err
	}
	b, ok := core.LookupBackend(t.Scheme)
	if !ok {
		if tag, known := compiledOut[t.Scheme]; known {
			return nil, fmt.Errorf("%w: scheme %q is known but not compiled in: build with -tags %s (e.g. go build -tags %s ./...)",
				core.ErrInvalid, t.Scheme, tag, tag)
		}
		return nil, fmt.Errorf("%w: unknown scheme %q in %s; known schemes: %s", core.ErrInvalid, t.Scheme, core.Redact(rawURL), knownSchemes())
	}
	p := core.NewParams(t.Query)
	if err := p.Repeated(); err != nil {
		return nil, fmt.Errorf("%s: %w", core.Redact(rawURL), err)
	}
	if cfg, err = policyParams(p, cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", core.Redact(rawURL), err)
	}
	if b.Options != nil {
		p.Declare(b.Options...)
		if err := p.Unknown(); err != nil {
			return nil, fmt.Errorf("%s: %w", core.Redact(rawURL), err)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Logger = core.RedactLogger(cfg.Logger, cfg.Secrets).With("registry", core.Redact(rawURL))
	t.Logger = cfg.Logger
	d, err := b.Open(ctx, t, p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", core.Redact(rawURL), err)
	}
	if err := p.Unread(); err != nil {
		d.Close()
		return nil, fmt.Errorf("%s: %w", core.Redact(rawURL), err)
	}
	c, err := New(d, cfg)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("%s: %w", core.Redact(rawURL), err)
	}
	return c, nil
}

// policyParams reads the options every backend understands into cfg.
func policyParams(p *core.Params, cfg Config) (Config, error) {
	durations := []struct {
		key string
		dst *time.Duration
	}{
		{"ttl", &cfg.TTL},
		{"interval", &cfg.Interval},
		{"deregister_timeout", &cfg.DeregisterTimeout},
		{"self_preservation_hold", &cfg.SelfPreservationHold},
	}
	for _, d := range durations {
		v, err := p.Duration(d.key, 0)
		if err != nil {
			return cfg, err
		}
		if v != 0 {
			if *d.dst != 0 {
				return cfg, fmt.Errorf("%w: %s is set both in the URL and in Config; keep one", core.ErrInvalid, d.key)
			}
			*d.dst = v
		}
	}
	if v, err := p.Fraction("self_preservation", 0); err != nil {
		return cfg, err
	} else if v != 0 {
		if cfg.SelfPreservation != 0 {
			return cfg, fmt.Errorf("%w: self_preservation is set both in the URL and in Config; keep one", core.ErrInvalid)
		}
		cfg.SelfPreservation = v
	}
	for _, s := range []struct {
		key string
		dst *string
	}{{"group", &cfg.Group}, {"version", &cfg.Version}} {
		if v := p.String(s.key, ""); v != "" {
			if *s.dst != "" {
				return cfg, fmt.Errorf("%w: %s is set both in the URL and in Config; keep one", core.ErrInvalid, s.key)
			}
			*s.dst = v
		}
	}
	return cfg, nil
}

func knownSchemes() string {
	parts := core.Schemes()
	for _, s := range slices.Sorted(maps.Keys(compiledOut)) {
		if _, ok := core.LookupBackend(s); !ok {
			parts = append(parts, fmt.Sprintf("%s (build with -tags %s)", s, compiledOut[s]))
		}
	}
	return strings.Join(parts, ", ")
}
