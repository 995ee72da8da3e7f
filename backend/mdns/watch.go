//go:build mdns

package mdns

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/mdns"

	"github.com/seedforge/discovery/core"
)

// browse asks the LAN once for typ (a PTR query for typ.<domain>, nothing
// wider) and returns the instances that answered within the query timeout,
// by address. Answers for other names are ignored; bad TXT strings go to bad.
func (d *driver) browse(ctx context.Context, service, typ string, bad func(name, txt, reason string)) (map[string]core.Instance, error) {
	// The library drops an entry when the channel is full, so a goroutine
	// drains it. It only keeps the pointers: the library fills the entries
	// in until the query ends, in this goroutine, and they are read after.
	entries := make(chan *mdns.ServiceEntry, 64)
	var got []*mdns.ServiceEntry
	var wg sync.WaitGroup
	wg.Go(func() {
		for e := range entries {
			got = append(got, e)
		}
	})
	err := mdns.QueryContext(ctx, &mdns.QueryParam{
		Service:   typ,
		Domain:    d.cfg.Domain,
		Timeout:   d.cfg.QueryTimeout,
		Interface: d.iface,
		Entries:   entries,
		Logger:    d.libLog,
	})
	close(entries)
	wg.Wait()
	if err != nil {
		return nil, fmt.Errorf("mdns: browse %s.%s: %w", typ, d.cfg.Domain, err)
	}
	// Sorted by name, so that if two names claim one address the same one
	// wins every time.
	slices.SortFunc(got, func(a, b *mdns.ServiceEntry) int { return cmp.Compare(a.Name, b.Name) })
	suffix := "." + typ + "." + d.cfg.Domain + "."
	out := make(map[string]core.Instance, len(got))
	for _, e := range got {
		if len(e.Name) <= len(suffix) || !strings.EqualFold(e.Name[len(e.Name)-len(suffix):], suffix) {
			continue // an answer to someone else's question
		}
		var host string
		switch {
		case e.AddrV4 != nil:
			host = e.AddrV4.String()
		case e.AddrV6IPAddr != nil:
			host = e.AddrV6IPAddr.String()
		default:
			continue
		}
		addr := "tcp@" + net.JoinHostPort(host, strconv.Itoa(e.Port))
		meta := decodeTXT(e.InfoFields, func(txt, reason string) { bad(e.Name, txt, reason) })
		out[addr] = core.Instance{Service: service, Addr: addr, Meta: meta}
	}
	return out, nil
}

// sighting is an instance and when a browse last found it.
type sighting struct {
	inst core.Instance
	at   time.Time
}

// watcher browses in the caller of Next: it holds no goroutine of its own.
type watcher struct {
	d       *driver
	ctx     context.Context // the whole watch's life
	service string
	typ     string
	stop    chan struct{}
	once    sync.Once

	// Only Next touches these; core never calls Next concurrently.
	started bool
	next    time.Time // earliest start of the next browse
	seen    map[string]sighting
	last    []core.Instance
	warned  map[string]bool
}

func (w *watcher) Next(ctx context.Context) ([]core.Instance, error) {
	for {
		if err := w.alive(ctx); err != nil {
			return nil, err
		}
		if w.started {
			if err := w.wait(ctx); err != nil {
				return nil, err
			}
		}
		start := time.Now()
		w.next = start.Add(w.d.cfg.Browse)
		found, err := w.d.browse(ctx, w.service, w.typ, w.warn)
		if err != nil {
			return nil, err
		}
		// A browse cut short by Close or a cancelled context found nothing
		// reliable: report why instead of a list.
		if err := w.alive(ctx); err != nil {
			return nil, err
		}
		for addr, in := range found {
			w.seen[addr] = sighting{inst: in, at: start}
		}
		now := time.Now()
		for addr, s := range w.seen {
			if now.Sub(s.at) > w.d.cfg.Expiry {
				delete(w.seen, addr)
			}
		}
		list := make([]core.Instance, 0, len(w.seen))
		for _, s := range w.seen {
			list = append(list, s.inst)
		}
		slices.SortFunc(list, func(a, b core.Instance) int { return cmp.Compare(a.Addr, b.Addr) })
		if w.started && equal(list, w.last) {
			continue
		}
		w.started, w.last = true, list
		return slices.Clone(list), nil
	}
}

// wait sleeps until the next browse is due.
func (w *watcher) wait(ctx context.Context) error {
	t := time.NewTimer(time.Until(w.next))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
	case <-w.ctx.Done():
	case <-w.stop:
	case <-w.d.closed:
	}
	return w.alive(ctx)
}

// alive reports why the watch must end, if it must.
func (w *watcher) alive(ctx context.Context) error {
	select {
	case <-w.stop:
		return fmt.Errorf("mdns: watch of %s closed: %w", w.service, core.ErrClosed)
	case <-w.d.closed:
		return errClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return w.ctx.Err()
}

// warn logs a bad TXT string once per watch, not on every browse.
func (w *watcher) warn(name, txt, reason string) {
	k := name + "\x00" + txt
	if w.warned[k] {
		return
	}
	if len(w.warned) >= 1024 {
		clear(w.warned) // bounded, whatever a foreign responder sends
	}
	w.warned[k] = true
	w.d.log.Warn("mdns: skipping bad TXT string", "service", w.service, "instance", name, "txt", txt, "reason", reason)
}

func (w *watcher) Close() error {
	w.once.Do(func() { close(w.stop) })
	return nil
}

func equal(a, b []core.Instance) bool {
	return slices.EqualFunc(a, b, func(x, y core.Instance) bool {
		return x.Addr == y.Addr && maps.Equal(x.Meta, y.Meta)
	})
}
