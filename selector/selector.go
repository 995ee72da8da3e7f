package selector

import (
	"errors"
	"slices"
	"time"

	"github.com/seedforge/discovery/core"
)

// ErrNoInstances is returned by Select when the current list is empty.
var ErrNoInstances = errors.New("selector: no instances")

// Selector picks one instance of a service per call.
type Selector interface {
	// Update swaps the instance list. It builds a new immutable snapshot and
	// publishes it atomically, so it is safe concurrently with Select. The
	// slice is copied; the Meta maps are shared, read only here and handed
	// back in Pick, so (as core documents) callers must treat them as
	// read-only.
	Update(instances []core.Instance)
	// Select picks one instance. key is used only by keyed selectors
	// (consistent hash); the others ignore it.
	Select(key string) (Pick, error)
}

// Pick is the result of Select. It is a value so that Select does not
// allocate. Done must be called once when the call ends: feedback selectors
// (p2c) learn latency and in-flight counts from it; for the others it is a
// no-op.
type Pick struct {
	Instance core.Instance

	node  *p2cNode // nil unless the selector wants feedback
	start int64    // nanotime at Select, for the latency sample
}

// Done reports the end of the call. err is the call's result: errors marked
// with Business count as answers, context cancellation only as the time spent,
// any other error as a failure of the instance.
func (p Pick) Done(err error) {
	if p.node != nil {
		p.node.done(p.start, err)
	}
}

// again returns a new Pick of the same instance for another attempt (failtry),
// with its own in-flight slot and start time, so Done can be called for each.
func (p Pick) again() Pick {
	if p.node != nil {
		p.node.inflight.Add(1)
		p.start = p.node.clock()
	}
	return p
}

// release gives back a Pick that was never used for a call, without feeding a
// latency sample that would make the instance look fast.
func (p Pick) release() {
	if p.node != nil {
		p.node.inflight.Add(-1)
	}
}

// cacheLine pads hot atomics so that their writes do not invalidate the line
// holding the read-mostly snapshot pointer on other cores.
const cacheLine = 64

type pad [cacheLine]byte

// copyInstances copies the slice the caller may reuse; never nil.
func copyInstances(in []core.Instance) []core.Instance {
	return slices.Clip(append([]core.Instance{}, in...))
}

// epoch anchors nanotime: time.Since on a value with a monotonic reading is
// cheaper than time.Now and immune to wall clock steps.
var epoch = time.Now()

func nanotime() int64 { return int64(time.Since(epoch)) }
