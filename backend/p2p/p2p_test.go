package p2p_test

import (
	"testing"

	"github.com/seedforge/discovery/backend/p2p"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
)

func TestConformance(t *testing.T) {
	coretest.Run(t, coretest.Harness{
		NewDriver: func(t testing.TB) core.Driver {
			d, err := p2p.New("tcp@127.0.0.1:8972", core.Metadata{"weight": "2"})
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		Static: []core.Instance{{Service: "Arith", Addr: "tcp@127.0.0.1:8972"}},
	})
}

func TestRejectsBadAddress(t *testing.T) {
	if _, err := p2p.New("127.0.0.1:8972", nil); err == nil {
		t.Fatal("address without network@ accepted")
	}
}
