//go:build etcd

package etcd

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
)

// TestBadRecords: keys and values another tool wrote into the prefix that
// are not instances are never listed, and are logged bounded, with the key.
func TestBadRecords(t *testing.T) {
	leakCheck(t)
	srv := startServer(t)
	coretest.BadRecords(t, coretest.BadData{
		NewDriver: func(t testing.TB, log *slog.Logger) core.Driver {
			return newDriverT(t, Config{Endpoints: []string{srv.endpoint()}, BasePath: "/bad", Logger: log})
		},
		Write: func(t testing.TB, svc string) {
			raw := rawClient(t, srv.endpoint())
			ctx := ctxT(t, 30*time.Second)
			p := "/bad/" + svc + "/"
			for k, v := range map[string]string{
				"tcp@127.0.0.1:1":            "weight=1",
				"tcp@127.0.0.1:2/nested":     "weight=1",
				"tcp@127.0.0.1:\xff\xfe":     "weight=1",
				"tcp@127.0.0.1:3":            "%zz" + strings.Repeat("A", 1<<20),
				strings.Repeat("x", 100_000): "weight=1",
			} {
				if _, err := raw.Put(ctx, p+k, v); err != nil {
					t.Fatal(err)
				}
			}
		},
		Good:  []string{"tcp@127.0.0.1:1"},
		Named: []string{`2/nested`, `127.0.0.1:\\xff\\xfe`, `/bad/baddata/tcp@127.0.0.1:3`, `%zzAAAA`, `xxxxxxxx`},
	})
}
