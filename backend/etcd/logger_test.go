//go:build etcd

package etcd

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seedforge/discovery/core"
)

// A driver opened from a URL logs through the logger discovery.Open hands
// it in the Target, not slog.Default().
func TestOpenerUsesTargetLogger(t *testing.T) {
	leakCheck(t)
	srv := startServer(t)
	ctx := ctxT(t, time.Minute)
	if _, err := rawClient(t, srv.endpoint()).Put(ctx, "/logged/S/tcp@127.0.0.1:1", "%zz"); err != nil {
		t.Fatal(err)
	}
	rec := &logRecorder{}
	d, err := open(context.Background(), core.Target{Scheme: "etcd", Hosts: []string{srv.endpoint()}, Path: "/logged", Logger: slogOf(rec)}, core.NewParams(url.Values{}))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.List(ctx, "S"); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(rec.all(), func(s string) bool { return strings.Contains(s, "not metadata") }) {
		t.Fatalf("the skipped key was not logged through the Target's logger: %v", rec.all())
	}
}
