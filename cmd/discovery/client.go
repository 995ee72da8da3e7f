package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
)

// open connects to the registry at rawURL within ctx. Logs go to stderr,
// scrubbed: everything with --verbose; otherwise nothing until started is
// called, so that a failing start is the one-line error alone.
func (e *env) open(ctx context.Context, o *options, rawURL string, cfg discovery.Config) (*discovery.Client, error) {
	cfg.Logger = e.logger(o)
	slog.SetDefault(cfg.Logger) // libraries that log through slog or log
	c, err := discovery.OpenContext(ctx, rawURL, cfg)
	if err != nil && ctx.Err() != nil {
		return nil, e.failed(ctx, o, "open "+core.Redact(rawURL), ctx.Err())
	}
	return c, err
}

// failed words an error of a registry round trip; a context that ended
// means a timeout or an interruption, said as such.
func (e *env) failed(ctx context.Context, o *options, what string, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%s: no answer within --timeout %v (%w)", what, o.timeout, err)
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("%s: interrupted (%w)", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (e *env) logger(o *options) *slog.Logger {
	e.verbose = o.verbose
	if e.verbose {
		e.level.Set(slog.LevelDebug)
	} else {
		e.level.Set(slog.LevelError + 4) // above every level in use: silent
	}
	return slog.New(slog.NewTextHandler(scrubWriter{e}, &slog.HandlerOptions{Level: &e.level}))
}

// started is called by the long-running commands once they are up: from
// then on warnings (retries, outages they ride out) go to stderr, since they
// are the only sign of trouble.
func (e *env) started() {
	if !e.verbose {
		e.level.Set(slog.LevelWarn)
	}
}

// noteSecrets remembers the URL's secrets (core.URLSecrets: the password,
// a token user name, option values not known to be public), so that every
// line the CLI prints is scrubbed of them, whatever quoted them.
func (e *env) noteSecrets(rawURL string) {
	e.secrets = append(e.secrets, core.URLSecrets(rawURL)...)
}

// scrub replaces every remembered secret in s.
func (e *env) scrub(s string) string { return core.Scrub(s, e.secrets) }

// scrubWriter writes log records to stderr with the secrets hidden; the slog
// handler writes each record with one Write.
type scrubWriter struct{ e *env }

func (w scrubWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(w.e.stderr, w.e.scrub(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// effectiveTTL is the record TTL a registration gets: --ttl, the URL's ttl
// option, or core's default.
func effectiveTTL(o *options, t core.Target) time.Duration {
	if o.ttl > 0 {
		return o.ttl
	}
	if d, err := time.ParseDuration(t.Query.Get("ttl")); err == nil && d > 0 {
		return d
	}
	return core.DefaultTTL
}
