package multi_test

import (
	"errors"
	"testing"

	"github.com/seedforge/discovery/backend/multi"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
)

func TestConformance(t *testing.T) {
	coretest.Run(t, coretest.Harness{
		NewDriver: func(t testing.TB) core.Driver {
			d, err := multi.New(
				multi.Server{Addr: "tcp@127.0.0.1:8972"},
				multi.Server{Addr: "tcp@127.0.0.1:8973"},
				multi.Server{Addr: "tcp@127.0.0.1:8974", Meta: core.Metadata{"state": "inactive"}},
			)
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		Static: []core.Instance{
			{Service: "Arith", Addr: "tcp@127.0.0.1:8972"},
			{Service: "Arith", Addr: "tcp@127.0.0.1:8973"},
			{Service: "Arith", Addr: "tcp@127.0.0.1:8974", Meta: core.Metadata{"state": "inactive"}},
		},
		Update: func(t testing.TB, d core.Driver, list []core.Instance) {
			servers := make([]multi.Server, len(list))
			for i, in := range list {
				servers[i] = multi.Server{Addr: in.Addr, Meta: in.Meta}
			}
			if err := d.(*multi.Driver).Update(servers); err != nil {
				t.Fatal(err)
			}
		},
	})
}

func TestUpdateRejectsBadInput(t *testing.T) {
	d, err := multi.New(multi.Server{Addr: "tcp@127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]multi.Server{
		{{Addr: "127.0.0.1:1"}},
		{{Addr: "tcp@a:1"}, {Addr: "tcp@a:1"}},
	} {
		if err := d.Update(bad); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("Update(%v) = %v, want ErrInvalid", bad, err)
		}
	}
}
