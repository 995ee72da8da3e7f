package core

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ewmaWindow is the time constant of the published rate, as in a load average.
const ewmaWindow = time.Minute

// Meter measures a server's load. The server calls Mark once per call and
// ConnOpened/ConnClosed per connection; core publishes, with the
// registration refresh, the 1-minute EWMA of the call rate as "tps", rpcx's
// mean rates as "calls" and "connections", and the counts as "calls_total"
// and "connections_open". Marking is one atomic add; rates are computed
// lazily when read, so a Meter costs no goroutine.
type Meter struct {
	calls    atomic.Int64
	conns    atomic.Int64 // open now
	accepted atomic.Int64 // since start
	marked   atomic.Bool  // publish nothing until the server uses the meter
	start    time.Time

	mu        sync.Mutex
	lastCalls int64
	lastTime  time.Time
	rate      float64
	started   bool
	now       func() time.Time
}

// NewMeter returns a meter whose window starts now.
func NewMeter() *Meter { return newMeterAt(time.Now) }

func newMeterAt(now func() time.Time) *Meter {
	t := now()
	return &Meter{now: now, lastTime: t, start: t}
}

// Mark counts one call.
func (m *Meter) Mark() { m.calls.Add(1); m.marked.Store(true) }

// ConnOpened counts an accepted connection.
func (m *Meter) ConnOpened() { m.conns.Add(1); m.accepted.Add(1); m.marked.Store(true) }

// ConnClosed counts a closed connection.
func (m *Meter) ConnClosed() { m.conns.Add(-1) }

// Calls returns the number of calls marked so far.
func (m *Meter) Calls() int64 { return m.calls.Load() }

// Connections returns the number of open connections.
func (m *Meter) Connections() int64 { return m.conns.Load() }

// Rate returns the 1-minute exponentially weighted moving average of calls
// per second. The first reading is the plain average since the meter started.
func (m *Meter) Rate() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	dt := now.Sub(m.lastTime)
	if dt < time.Millisecond {
		return m.rate
	}
	calls := m.calls.Load()
	instant := float64(calls-m.lastCalls) / dt.Seconds()
	if m.started {
		alpha := 1 - math.Exp(-dt.Seconds()/ewmaWindow.Seconds())
		m.rate += alpha * (instant - m.rate)
	} else {
		m.rate, m.started = instant, true
	}
	m.lastCalls, m.lastTime = calls, now
	return m.rate
}

// loadMeta returns the load keys to publish, or nil when the meter is unused.
// TPS is rounded to 2 decimals so a decaying rate reaches 0 and stops writing.
func (m *Meter) loadMeta() Metadata {
	if m == nil || !m.marked.Load() {
		return nil
	}
	tps := math.Round(m.Rate()*100) / 100
	calls := m.Calls()
	// go-metrics' RateMean, as rpcx computes it: count over the seconds
	// since the meter started.
	elapsed := m.now().Sub(m.start).Seconds()
	mean := func(n int64) string {
		if elapsed <= 0 {
			return "0.00"
		}
		return fmt.Sprintf("%.2f", float64(n)/elapsed)
	}
	return Metadata{
		MetaTPS:             strconv.FormatFloat(tps, 'f', -1, 64),
		MetaCalls:           mean(calls),
		MetaConnections:     mean(m.accepted.Load()),
		MetaCallsTotal:      strconv.FormatInt(calls, 10),
		MetaConnectionsOpen: strconv.FormatInt(m.Connections(), 10),
	}
}

// loadChanged decides whether fresh load values are worth a registry write:
// TPS moved by publishChange or more, the open connection count changed, or the
// value has not been written for publishEvery refreshes.
func loadChanged(published, fresh Metadata, refreshesSince int) bool {
	if fresh == nil {
		return false
	}
	if published == nil {
		return true
	}
	if published[MetaConnectionsOpen] != fresh[MetaConnectionsOpen] {
		return true
	}
	old, _ := published.TPS()
	cur, _ := fresh.TPS()
	if old == cur {
		return false
	}
	if refreshesSince >= publishEvery {
		return true
	}
	return math.Abs(cur-old) >= publishChange*math.Max(old, 0.01)
}
