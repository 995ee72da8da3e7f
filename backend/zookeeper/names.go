//go:build zookeeper

package zookeeper

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/seedforge/discovery/core"
)

func (d *driver) serviceDir(service string) string { return d.cfg.BasePath + "/" + service }

func (d *driver) nodePath(inst core.Instance) string {
	return d.serviceDir(inst.Service) + "/" + encodeAddr(inst.Addr)
}

// encodeAddr turns an address into a node name: '/' cannot appear in one.
// Addresses without '/' and '%' are left as they are, as rpcx stores them.
func encodeAddr(addr string) string {
	if !strings.ContainsAny(addr, "/%") {
		return addr
	}
	return strings.NewReplacer("%", "%25", "/", "%2F").Replace(addr)
}

func decodeAddr(name string) (string, error) {
	if !strings.Contains(name, "%") {
		return name, nil
	}
	return url.PathUnescape(name)
}

var _ core.NameValidator = (*driver)(nil)

// ValidateService rejects the service names ZooKeeper cannot hold as a node
// name, so that core fails them at once instead of retrying forever.
func (d *driver) ValidateService(service string) error {
	if err := validNodeName(service); err != nil {
		return fmt.Errorf("%w: zookeeper: service name %q: %v", core.ErrInvalid, service, err)
	}
	return nil
}

// validNodeName applies ZooKeeper's rules for one path element.
func validNodeName(name string) error {
	if name == "." || name == ".." {
		return errors.New("'.' and '..' are not node names")
	}
	for _, r := range name {
		if r == 0 || r > 0 && r < 0x20 || r >= 0x7f && r <= 0x9f || r >= 0xd800 && r <= 0xf8ff || r >= 0xfff0 {
			return fmt.Errorf("character %U is not allowed in a ZooKeeper node name", r)
		}
	}
	return nil
}

// parseNode turns an instance node into an Instance, or says why it can't;
// core keeps out names that are not an instance's address.
func parseNode(service, name string, data []byte) (core.Instance, error) {
	addr, err := decodeAddr(name)
	if err != nil {
		return core.Instance{}, fmt.Errorf("node name %s is not an escaped address: %v", core.Bounded(name), err)
	}
	if !utf8.Valid(data) {
		return core.Instance{}, fmt.Errorf("data %s is not text", core.Bounded(string(data)))
	}
	meta, err := core.ParseMetadata(string(data))
	if err != nil {
		return core.Instance{}, err
	}
	return core.Instance{Service: service, Addr: addr, Meta: meta}, nil
}
