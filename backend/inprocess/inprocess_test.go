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

func harness() (coretest.Harness, *inprocess.Store) {
	name := fmt.Sprintf("registration-%d", storeSeq.Add(1))
	h := coretest.Harness{NewDriver: func(testing.TB) core.Driver { return inprocess.Open(name) }, TTL: 300 * time.Millisecond}
	return h, inprocess.Lookup(name)
}

func TestMetadataOrder(t *testing.T) {
	h, _ := harness()
	coretest.MetadataOrder(t, h)
}

func TestStartDuringOutage(t *testing.T) {
	h, store := harness()
	coretest.StartDuringOutage(t, h, coretest.Outage{
		Cut:     func(testing.TB) { store.SetDown(true) },
		Restore: func(testing.TB) { store.SetDown(false) },
	})
}
