//go:build consul

package consul

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/internal/proctest"
)

// A driver opened from a URL logs through the logger discovery.Open hands
// it in the Target, not slog.Default().
func TestOpenerUsesTargetLogger(t *testing.T) {
	a := sharedAgent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := rawAPI(t, a, "").KV().Put(&api.KVPair{Key: "logged/S/tcp@127.0.0.1:1", Value: []byte("%zz")}, nil); err != nil {
		t.Fatal(err)
	}
	var buf proctest.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	p := core.NewParams(url.Values{"mode": {"kv"}})
	d, err := open(ctx, core.Target{Scheme: "consul", Hosts: []string{a.Addr}, Path: "/logged", Logger: log}, p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.List(ctx, "S"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "tcp@127.0.0.1:1") {
		t.Fatalf("the skipped key was not logged through the Target's logger: %q", buf.String())
	}
}
