//go:build consul

package consul

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
)

// TestBadRecordsKV: keys another tool wrote under a service's prefix that
// are not instances are never listed, and are logged bounded, with the key.
func TestBadRecordsKV(t *testing.T) {
	a := sharedAgent(t)
	coretest.BadRecords(t, coretest.BadData{
		NewDriver: func(t testing.TB, log *slog.Logger) core.Driver {
			return newDriver(t, a, ModeKV, Config{BasePath: "bad", Logger: log})
		},
		Write: func(t testing.TB, svc string) {
			kv := rawAPI(t, a, "").KV()
			p := "bad/" + svc + "/"
			for k, v := range map[string]string{
				"tcp@127.0.0.1:1":            "weight=1",
				"tcp@127.0.0.1:2/nested":     "weight=1",
				"tcp@127.0.0.1:\xff\xfe":     "weight=1", // Consul keeps it as U+FFFD U+FFFD
				"tcp@127.0.0.1:3":            "%zz" + strings.Repeat("A", 400_000),
				strings.Repeat("x", 100_000): "weight=1",
			} {
				if _, err := kv.Put(&api.KVPair{Key: p + k, Value: []byte(v)}, nil); err != nil {
					t.Fatalf("put %.40q: %v", k, err)
				}
			}
			t.Cleanup(func() { kv.DeleteTree("bad/", nil) })
		},
		Good:  []string{"tcp@127.0.0.1:1"},
		Named: []string{`2/nested`, "127.0.0.1:\ufffd\ufffd", `bad/baddata/tcp@127.0.0.1:3`, `%zzAAAA`, `xxxxxxxx`},
	})
}

// TestBadRecordsCatalog: agent services another tool registered whose
// address is not network@host:port are never listed, and are logged.
func TestBadRecordsCatalog(t *testing.T) {
	a := sharedAgent(t)
	coretest.BadRecords(t, coretest.BadData{
		NewDriver: func(t testing.TB, log *slog.Logger) core.Driver {
			return newDriver(t, a, ModeCatalog, Config{Logger: log})
		},
		Write: func(t testing.TB, svc string) {
			agent := rawAPI(t, a, "").Agent()
			for i, addr := range []string{"tcp@127.0.0.1:1", "tcp@127.0.0.1:2/nested", "tcp@127.0.0.1:" + strings.Repeat("9", 400)} {
				id := svc + "-bad-" + string(rune('a'+i))
				if err := agent.ServiceRegister(&api.AgentServiceRegistration{ID: id, Name: svc, Meta: map[string]string{MetaAddr: addr}}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { agent.ServiceDeregister(id) })
			}
		},
		Good:  []string{"tcp@127.0.0.1:1"},
		Named: []string{`2/nested`, `tcp@127.0.0.1:99999999`},
	})
}
