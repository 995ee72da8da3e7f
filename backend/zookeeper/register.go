//go:build zookeeper

package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/seedforge/discovery/core"
)

// errNodeMoved is returned by Put when the node vanished between our create
// and our read of it (a concurrent delete): core writes again.
var errNodeMoved = errors.New("zookeeper: node deleted while being written")

func (d *driver) Put(ctx context.Context, inst core.Instance, _ time.Duration) error {
	if err := inst.Validate(); err != nil {
		return err
	}
	if err := d.auth(ctx); err != nil {
		return err
	}
	if err := d.ValidateService(inst.Service); err != nil {
		return err
	}
	if err := validNodeName(encodeAddr(inst.Addr)); err != nil {
		return fmt.Errorf("%w: zookeeper: address %q: %v", core.ErrInvalid, inst.Addr, err)
	}
	path := d.nodePath(inst)
	data := []byte(inst.Meta.Encode())
	err := d.create(ctx, path, data)
	if errors.Is(err, zk.ErrNoNode) {
		if err = d.createParents(ctx, inst.Service); err != nil {
			return err
		}
		err = d.create(ctx, path, data)
	}
	if !errors.Is(err, zk.ErrNodeExists) {
		return d.wrap("create", path, err)
	}
	// The node exists. Ours (same session): update its data, versioned, so
	// that a concurrent writer is noticed instead of overwritten.
	type got struct {
		data []byte
		stat *zk.Stat
	}
	g, err := call(ctx, d, func() (got, error) {
		b, st, err := d.conn.Get(path)
		return got{b, st}, err
	})
	if errors.Is(err, zk.ErrNoNode) {
		return fmt.Errorf("%w: %s", errNodeMoved, path)
	}
	if err != nil {
		return d.wrap("read", path, err)
	}
	if owner := g.stat.EphemeralOwner; owner == d.conn.SessionID() && owner != 0 {
		if string(g.data) == string(data) {
			return nil
		}
		_, err := call(ctx, d, func() (*zk.Stat, error) { return d.conn.Set(path, data, g.stat.Version) })
		return d.wrap("update", path, err)
	}
	// Not ours: left by a previous session of this process (restarted within
	// the session timeout), a persistent node someone wrote, or the same
	// address registered by another live process. The address is being
	// registered here and now, so this registration replaces that node.
	d.log.Warn("zookeeper: replacing a node owned by another session (a previous run of this server, or the same address registered twice)",
		"path", path, "owner_session", fmt.Sprintf("0x%x", g.stat.EphemeralOwner), "our_session", fmt.Sprintf("0x%x", d.conn.SessionID()))
	_, err = call(ctx, d, func() (struct{}, error) { return struct{}{}, d.conn.Delete(path, g.stat.Version) })
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return d.wrap("replace", path, err)
	}
	return d.wrap("create", path, d.create(ctx, path, data))
}

func (d *driver) create(ctx context.Context, path string, data []byte) error {
	_, err := call(ctx, d, func() (string, error) { return d.conn.Create(path, data, zk.FlagEphemeral, d.acl) })
	return err
}

// createParents creates the persistent nodes above a service's instances,
// with rpcx's data: "rpcx_path" on the base path node, the service name on
// the service node, nothing on the nodes above the base path.
func (d *driver) createParents(ctx context.Context, service string) error {
	parts := strings.Split(d.cfg.BasePath[1:], "/")
	path := ""
	for i, p := range append(parts, service) {
		path += "/" + p
		var data []byte
		switch i {
		case len(parts) - 1:
			data = []byte(basePathData)
		case len(parts):
			data = []byte(service)
		}
		_, err := call(ctx, d, func() (string, error) { return d.conn.Create(path, data, 0, d.acl) })
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return d.wrap("create", path, err)
		}
	}
	return nil
}

// stat reads the node's metadata; a missing node is zk.ErrNoNode, as Get
// reports it.
func (d *driver) stat(ctx context.Context, path string) (*zk.Stat, error) {
	return call(ctx, d, func() (*zk.Stat, error) {
		ok, st, err := d.conn.Exists(path)
		if err == nil && !ok {
			err = zk.ErrNoNode
		}
		return st, err
	})
}

func (d *driver) KeepAlive(ctx context.Context, inst core.Instance, _ time.Duration) error {
	if err := inst.Validate(); err != nil {
		return err
	}
	path := d.nodePath(inst)
	// The session is kept alive by the client's pings; what can be lost is
	// the node (deleted, or replaced by another session's). A data watch on
	// it, set by the last check, fires on either: until it does, no request.
	if d.ownUnchanged(path) {
		return nil
	}
	session := d.conn.SessionID()
	exists, stat, err := d.statW(ctx, path, func(st *zk.Stat) bool {
		return st.EphemeralOwner != 0 && st.EphemeralOwner == session
	})
	if err == nil && !exists {
		err = zk.ErrNoNode
	}
	if errors.Is(err, zk.ErrNoNode) {
		return fmt.Errorf("zookeeper: %s: %w", path, core.ErrNotFound)
	}
	if err != nil {
		return d.wrap("check", path, err)
	}
	if owner := stat.EphemeralOwner; owner == 0 || owner != session {
		return fmt.Errorf("zookeeper: %s belongs to session 0x%x, not ours (0x%x): %w", path, owner, session, core.ErrNotFound)
	}
	return nil
}

func (d *driver) Delete(ctx context.Context, inst core.Instance) error {
	if err := inst.Validate(); err != nil {
		return err
	}
	if err := d.auth(ctx); err != nil {
		return err
	}
	path := d.nodePath(inst)
	d.forgetOwned(path)
	stat, err := d.stat(ctx, path)
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	if err != nil {
		return d.wrap("check", path, err)
	}
	if owner := stat.EphemeralOwner; owner != 0 && owner != d.conn.SessionID() {
		// Another live session registered this address since: not our record.
		d.log.Debug("zookeeper: not deleting a node owned by another session", "path", path, "owner_session", fmt.Sprintf("0x%x", owner))
		return nil
	}
	_, err = call(ctx, d, func() (struct{}, error) { return struct{}{}, d.conn.Delete(path, stat.Version) })
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	return d.wrap("delete", path, err)
}
