package selector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/seedforge/discovery/core"
)

// FailMode says what Call does when an attempt fails, as in rpcx.
type FailMode int

const (
	// Failover retries on another instance (the zero value).
	Failover FailMode = iota
	// Failfast makes one attempt and returns its error.
	Failfast
	// Failtry retries on the same instance.
	Failtry
	// Failbackup sends a second request to another instance if the first has
	// not answered within BackupDelay, and takes the first success.
	Failbackup
)

func (m FailMode) String() string {
	switch m {
	case Failover:
		return "failover"
	case Failfast:
		return "failfast"
	case Failtry:
		return "failtry"
	case Failbackup:
		return "failbackup"
	}
	return "FailMode(" + strconv.Itoa(int(m)) + ")"
}

// Defaults of CallOptions, and the backoff cap.
const (
	defaultRetries     = 3
	defaultBackoff     = 10 * time.Millisecond
	defaultBackupDelay = 10 * time.Millisecond
	maxBackoff         = time.Second
)

// CallOptions configures Call. The zero value is Failover with the defaults.
type CallOptions struct {
	Mode FailMode
	// Retries is the number of attempts after the first (failover, failtry).
	// 0 means 3; negative means none.
	Retries int
	// Backoff is the base wait before a retry (failover, failtry), doubled
	// each retry, capped at 1s (or at Backoff if larger), and jittered to a
	// random value in [d/2, d] so that clients failing together do not retry
	// together. 0 means 10ms; negative means no wait.
	Backoff time.Duration
	// BackupDelay is how long failbackup waits for the first answer before
	// sending the second request. 0 means 10ms; negative
	// sends both at once.
	BackupDelay time.Duration
	// Key is passed to Select, for keyed selectors (consistent hash).
	Key string
}

func (o CallOptions) withDefaults() CallOptions {
	switch {
	case o.Retries == 0:
		o.Retries = defaultRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.Backoff == 0 {
		o.Backoff = defaultBackoff
	}
	switch {
	case o.BackupDelay == 0:
		o.BackupDelay = defaultBackupDelay
	case o.BackupDelay < 0:
		o.BackupDelay = 0
	}
	return o
}

// Call runs fn on instances picked by s, handling failures as o.Mode says.
//
// In every mode: Pick.Done is called with fn's result for every attempt; an
// error marked with Business is returned at once, as is, without retry; ctx
// is checked before each attempt and during waits, and once it is done no new
// attempt starts; a Select error (ErrNoInstances) is returned wrapped; when
// all attempts fail, the returned error wraps the last one, so errors.Is and
// errors.As work on it.
//
// fn must honour its ctx: failbackup cancels the losing request through it,
// and returns without waiting for it.
func Call(ctx context.Context, s Selector, o CallOptions, fn func(ctx context.Context, inst core.Instance) error) error {
	if s == nil || fn == nil {
		return errors.New("selector: Call needs a non-nil Selector and function")
	}
	o = o.withDefaults()
	switch o.Mode {
	case Failover:
		return callRetry(ctx, s, o, fn, o.Retries, true)
	case Failfast:
		return callRetry(ctx, s, o, fn, 0, false)
	case Failtry:
		return callRetry(ctx, s, o, fn, o.Retries, false)
	case Failbackup:
		return callBackup(ctx, s, o, fn)
	}
	return fmt.Errorf("selector: unknown fail mode %d: use Failover, Failfast, Failtry or Failbackup", int(o.Mode))
}

// callRetry makes up to retries+1 attempts, on a new instance each time if
// moveOn, else on the first one again.
func callRetry(ctx context.Context, s Selector, o CallOptions, fn func(context.Context, core.Instance) error, retries int, moveOn bool) error {
	var (
		pick  Pick
		tried []string
		seq   int
		last  error
		bo    = core.Backoff{Base: o.Backoff, Cap: max(maxBackoff, o.Backoff)}
	)
	for attempt := 0; attempt <= retries; attempt++ {
		if attempt > 0 && o.Backoff > 0 {
			wait(ctx, bo.Next())
		}
		if err := ctx.Err(); err != nil {
			return stopped(o.Mode, attempt, err, last)
		}
		var err error
		switch {
		case attempt == 0 || moveOn:
			pick, err = selectAvoiding(s, o.Key, &seq, tried)
		default:
			pick = pick.again()
		}
		if err != nil {
			if last != nil {
				return fmt.Errorf("selector: %v: %w after %d failed attempts (last error: %w)", o.Mode, err, attempt, last)
			}
			return fmt.Errorf("selector: %v: %w", o.Mode, err)
		}
		tried = append(tried, pick.Instance.Addr)
		err = fn(ctx, pick.Instance)
		pick.Done(err)
		if err == nil || IsBusiness(err) {
			return err
		}
		last = err
	}
	return exhausted(o.Mode, retries+1, pick.Instance.Addr, last)
}

// callBackup sends a request, and a second one to another instance if the
// first fails or has not answered within o.BackupDelay; the first success
// wins and the other request's context is cancelled.
func callBackup(ctx context.Context, s Selector, o CallOptions, fn func(context.Context, core.Instance) error) error {
	if err := ctx.Err(); err != nil {
		return stopped(o.Mode, 0, err, nil)
	}
	seq := 0
	first, err := selectAvoiding(s, o.Key, &seq, nil)
	if err != nil {
		return fmt.Errorf("selector: %v: %w", o.Mode, err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // cancels the loser
	type result struct {
		addr string
		err  error
	}
	// Buffered for both requests, so a loser finishing after Call returned
	// never blocks: its goroutine ends when fn returns.
	results := make(chan result, 2)
	run := func(p Pick) {
		go func() {
			err := fn(ctx, p.Instance)
			p.Done(err)
			results <- result{p.Instance.Addr, err}
		}()
	}
	run(first)
	running, attempts := 1, 1

	timer := time.NewTimer(o.BackupDelay)
	defer timer.Stop()
	backupDue := timer.C
	backup := func() {
		backupDue = nil
		if ctx.Err() != nil {
			return
		}
		p, err := selectAvoiding(s, o.Key, &seq, []string{first.Instance.Addr})
		if err != nil {
			return
		}
		if p.Instance.Addr == first.Instance.Addr { // no other instance
			p.release()
			return
		}
		run(p)
		running++
		attempts++
	}

	var last error
	var lastAddr string
	for running > 0 {
		select {
		case r := <-results:
			running--
			if r.err == nil || IsBusiness(r.err) {
				return r.err
			}
			last, lastAddr = r.err, r.addr
			if backupDue != nil { // failed before the delay: go on at once
				backup()
			}
		case <-backupDue:
			backup()
		case <-ctx.Done():
			return stopped(o.Mode, attempts, ctx.Err(), last)
		}
	}
	return exhausted(o.Mode, attempts, lastAddr, last)
}

// maxReselect bounds the Selects spent looking for an instance not tried yet;
// the selector's list size is unknown, and after that a repeat is fine.
const maxReselect = 8

// selectAvoiding picks an instance whose address is not in tried, when it can
// find one. After the first Select it passes key#1, key#2…, so that a
// consistent hash moves on, deterministically, to other instances.
func selectAvoiding(s Selector, key string, seq *int, tried []string) (Pick, error) {
	for i := 0; ; i++ {
		k := key
		if *seq > 0 {
			k = key + "#" + strconv.Itoa(*seq)
		}
		*seq++
		p, err := s.Select(k)
		if err != nil || i == maxReselect-1 || !slices.Contains(tried, p.Instance.Addr) {
			return p, err
		}
		p.release()
	}
}

// backoff is the jittered exponential wait before retry n (from 0).

// wait sleeps for d or until ctx is done.
func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func stopped(m FailMode, attempts int, ctxErr, last error) error {
	if last == nil {
		return fmt.Errorf("selector: %v: stopped after %d attempts: %w", m, attempts, ctxErr)
	}
	return fmt.Errorf("selector: %v: stopped after %d attempts: %w (last error: %w)", m, attempts, ctxErr, last)
}

func exhausted(m FailMode, attempts int, addr string, last error) error {
	return fmt.Errorf("selector: %v: %d attempts failed, last on %s: %w", m, attempts, addr, last)
}
