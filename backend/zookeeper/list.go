//go:build zookeeper

package zookeeper

import (
	"context"
	"errors"
	"sync"

	"github.com/go-zookeeper/zk"

	"github.com/seedforge/discovery/core"
)

func (d *driver) List(ctx context.Context, service string) ([]core.Instance, error) {
	if err := core.ValidateService(service); err != nil {
		return nil, err
	}
	if err := d.ValidateService(service); err != nil {
		return nil, err
	}
	if err := d.auth(ctx); err != nil {
		return nil, err
	}
	dir := d.serviceDir(service)
	children, err := call(ctx, d, func() ([]string, error) {
		c, _, err := d.conn.Children(dir)
		return c, err
	})
	if errors.Is(err, zk.ErrNoNode) {
		return []core.Instance{}, nil
	}
	if err != nil {
		return nil, d.wrap("list", dir, err)
	}
	reads, err := d.readNodes(ctx, dir, children, false)
	if err != nil {
		return nil, err
	}
	out := make([]core.Instance, 0, len(children))
	for _, r := range reads {
		if r.missing {
			continue // deleted since the listing
		}
		if inst, err := parseNode(service, r.name, r.data); err != nil {
			d.log.Warn("zookeeper: skipping an unreadable instance node", "path", core.StoreData(dir+"/"+r.name), "err", err)
		} else {
			out = append(out, inst)
		}
	}
	return out, nil
}

// ReadRecord implements core.RecordReader: one node, not the service's
// children. An unreadable node is no record, as List skips it.
func (d *driver) ReadRecord(ctx context.Context, service, addr string) (core.Instance, bool, error) {
	if err := d.auth(ctx); err != nil {
		return core.Instance{}, false, err
	}
	path := d.nodePath(core.Instance{Service: service, Addr: addr})
	data, err := call(ctx, d, func() ([]byte, error) {
		b, _, err := d.conn.Get(path)
		return b, err
	})
	if errors.Is(err, zk.ErrNoNode) {
		return core.Instance{}, false, nil
	}
	if err != nil {
		return core.Instance{}, false, d.wrap("read", path, err)
	}
	inst, err := parseNode(service, encodeAddr(addr), data)
	if err != nil {
		d.log.Warn("zookeeper: skipping an unreadable instance node", "path", core.StoreData(path), "err", err)
		return core.Instance{}, false, nil
	}
	return inst, true, nil
}

var _ core.RecordReader = (*driver)(nil)

// maxParallelReads bounds the reads one List or watch update has in flight.
const maxParallelReads = 64

type nodeRead struct {
	name    string
	data    []byte
	missing bool // deleted since it was listed
}

// readNodes reads the data of dir's children names, with a data watch on
// each if watch. The reads go out together: the client pipelines them on its
// one connection, so a thousand instances cost about one round trip, not a
// thousand.
func (d *driver) readNodes(ctx context.Context, dir string, names []string, watch bool) ([]nodeRead, error) {
	out := make([]nodeRead, len(names))
	errs := make([]error, len(names))
	read := func(i int) {
		path := dir + "/" + names[i]
		out[i].name = names[i]
		if watch {
			out[i].data, errs[i] = d.getW(ctx, path)
		} else {
			out[i].data, errs[i] = call(ctx, d, func() ([]byte, error) {
				b, _, err := d.conn.Get(path)
				return b, err
			})
		}
		if errors.Is(errs[i], zk.ErrNoNode) {
			out[i].missing, errs[i] = true, nil
		}
	}
	if len(names) == 1 {
		read(0)
	} else {
		var wg sync.WaitGroup
		sem := make(chan struct{}, maxParallelReads)
		for i := range names {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				read(i)
			}()
		}
		wg.Wait()
	}
	for i, err := range errs {
		if err != nil {
			return nil, d.wrap("read", dir+"/"+names[i], err)
		}
	}
	return out, nil
}
