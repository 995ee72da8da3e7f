//go:build zookeeper

package zookeeper_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/seedforge/discovery/backend/zookeeper"
	"github.com/seedforge/discovery/backend/zookeeper/zktest"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
)

// TestBadRecords: nodes another tool created under a service that are not
// instances are never listed, and are logged bounded, with the path.
func TestBadRecords(t *testing.T) {
	leakCheck(t)
	srv := zktest.Start(t)
	coretest.BadRecords(t, coretest.BadData{
		NewDriver: func(t testing.TB, log *slog.Logger) core.Driver {
			return newDriver(t, zookeeper.Config{Servers: []string{srv.Addr()}, BasePath: "/bad", Logger: log})
		},
		Write: func(t testing.TB, svc string) {
			raw := rawConn(t, srv.Addr(), "")
			acl := zk.WorldACL(zk.PermAll)
			for _, p := range []string{"/bad", "/bad/" + svc} {
				_, err := raw.Create(p, nil, 0, acl)
				must(t, err)
			}
			for name, data := range map[string]string{
				"tcp@127.0.0.1:1":           "weight=1",
				"tcp@127.0.0.1:2%2Fnested":  "weight=1", // tcp@127.0.0.1:2/nested
				"tcp@127.0.0.1:%FF%FE":      "weight=1", // bytes that are not UTF-8
				"tcp@127.0.0.1:3":           "%zz" + strings.Repeat("A", 500_000),
				"tcp@127.0.0.1:4":           "\xff\xfe" + strings.Repeat("B", 500_000),
				strings.Repeat("x", 50_000): "weight=1",
			} {
				_, err := raw.Create("/bad/"+svc+"/"+name, []byte(data), 0, acl)
				must(t, err)
			}
		},
		Good:  []string{"tcp@127.0.0.1:1"},
		Named: []string{`2/nested`, `127.0.0.1:\\xff\\xfe`, `/bad/baddata/tcp@127.0.0.1:3`, `%zzAAAA`, `/bad/baddata/tcp@127.0.0.1:4`, `xxxxxxxx`},
	})
}
