package inprocess_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/inprocess"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
)

var storeSeq atomic.Int64

func TestConformance(t *testing.T) {
	name := fmt.Sprintf("conformance-%d", storeSeq.Add(1))
	coretest.Run(t, coretest.Harness{
		NewDriver: func(testing.TB) core.Driver { return inprocess.Open(name) },
		TTL:       300 * time.Millisecond,
		Remove: func(_ testing.TB, inst core.Instance) {
			inprocess.Lookup(name).Remove(inst.Service, inst.Addr)
		},
	})
}
