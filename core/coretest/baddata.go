package coretest

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/internal/proctest"
)

// BadData is what a backend's test writes into its store with the raw
// client, behind core's back, for BadRecords.
type BadData struct {
	// NewDriver opens a client of the store that logs to log.
	NewDriver func(t testing.TB, log *slog.Logger) core.Driver
	// Write stores records of service: valid ones at the addresses Good,
	// and garbage (keys that are not network@host:port such as a trailing
	// /nested or bytes that are not UTF-8, values of a megabyte) that must
	// not be listed.
	Write func(t testing.TB, service string)
	Good  []string
	// Named are what the logs must show of the garbage, each in a line of
	// its own (parts of bounded keys or values).
	Named []string
}

// MaxLogLine bounds a log line about bad store data: a key and a value
// rendered by core.Bounded, escapes included, and the message around them.
const MaxLogLine = 12 * core.MaxLogged

// BadRecords checks what core makes of records another tool wrote badly:
// Instances and Watch list only the valid ones, every log line stays
// bounded, and each piece of garbage is named in a warning.
func BadRecords(t *testing.T, bad BadData) {
	var logs proctest.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	svc := "baddata"
	bad.Write(t, svc)
	d := bad.NewDriver(t, log)
	t.Cleanup(func() { d.Close() })
	o := core.Options{Logger: log}
	dis, err := core.NewDiscovery(d, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dis.Close() })
	want := slices.Sorted(slices.Values(bad.Good))
	ctx := ctxFor(t, 30*time.Second)
	l, err := dis.Instances(ctx, svc, core.IncludeInactive())
	if err != nil {
		t.Fatalf("Instances: %v", err)
	}
	if got := Addrs(l); !slices.Equal(got, want) {
		t.Fatalf("Instances listed %q, want only the valid %q", got, want)
	}
	ch, err := dis.Watch(ctx, svc, core.IncludeInactive())
	if err != nil {
		t.Fatal(err)
	}
	if got := Addrs(<-ch); !slices.Equal(got, want) {
		t.Fatalf("Watch listed %q, want only the valid %q", got, want)
	}
	for _, line := range lines(&logs) {
		if len(line) > MaxLogLine {
			t.Errorf("a log line of %d bytes (more than %d): %.300s…", len(line), MaxLogLine, line)
		}
	}
	for _, name := range bad.Named {
		if !slices.ContainsFunc(lines(&logs), func(l string) bool { return strings.Contains(l, name) }) {
			t.Errorf("no warning names %q; logs:\n%s", name, strings.Join(lines(&logs), "\n"))
		}
	}
}

func lines(b *proctest.Buffer) []string { return strings.Split(strings.TrimSpace(b.String()), "\n") }
