//go:build consul

package consul

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/seedforge/discovery/core"
)

// Consul's limits on service metadata (agent/structs: metaMaxKeyPairs,
// metaKeyMaxLength, metaValueMaxLength, metaKeyFormat, MetaKeyReservedPrefix).
const (
	MaxMetaPairs       = 64
	MaxMetaKeyLength   = 128
	MaxMetaValueLength = 512
	reservedMetaPrefix = "consul-"
)

var metaKeyFormat = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`).MatchString

// catalogDriver keeps instances as agent services with TTL checks.
type catalogDriver struct {
	*client
}

// ServiceID is the agent service ID of the instance at addr of service:
// readable and deterministic, "{service}-{addr}-{hash}", where characters of
// addr outside [A-Za-z0-9.:@_-] become '_' and hash is 8 hex digits of
// SHA-256 over service and addr, which keeps IDs apart that the readable part
// would confuse.
func ServiceID(service, addr string) string {
	sum := sha256.Sum256([]byte(service + "\x00" + addr))
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(".:@_-", r):
			return r
		}
		return '_'
	}, addr)
	return service + "-" + clean + "-" + hex.EncodeToString(sum[:4])
}

func checkID(serviceID string) string { return "service:" + serviceID }

// serviceMeta checks inst's metadata against Consul's limits and returns the
// service meta to register: a copy plus MetaAddr.
func serviceMeta(inst core.Instance) (map[string]string, error) {
	if n := len(inst.Meta); n > MaxMetaPairs-1 {
		return nil, fmt.Errorf("%w: consul catalog: %s %s has %d metadata pairs; Consul allows %d per service, one of which holds the address (%s): drop some or use mode=kv",
			core.ErrInvalid, inst.Service, inst.Addr, n, MaxMetaPairs, MetaAddr)
	}
	keys := make([]string, 0, len(inst.Meta))
	for k := range inst.Meta {
		keys = append(keys, k)
	}
	slices.Sort(keys) // report the same key every time
	for _, k := range keys {
		v := inst.Meta[k]
		var why string
		switch {
		case k == MetaAddr:
			why = "is reserved for the instance's address"
		case k == "":
			why = "is empty"
		case len(k) > MaxMetaKeyLength:
			why = fmt.Sprintf("is longer than Consul's %d characters", MaxMetaKeyLength)
		case !metaKeyFormat(k):
			why = "has characters Consul does not allow in meta keys (only A-Z a-z 0-9 _ -)"
		case strings.HasPrefix(k, reservedMetaPrefix):
			why = fmt.Sprintf("starts with %q, which Consul reserves", reservedMetaPrefix)
		case len(v) > MaxMetaValueLength:
			why = fmt.Sprintf("has a value of %d bytes, over Consul's %d", len(v), MaxMetaValueLength)
		default:
			continue
		}
		return nil, fmt.Errorf("%w: consul catalog: %s %s: metadata key %q %s; rename it or use mode=kv",
			core.ErrInvalid, inst.Service, inst.Addr, k, why)
	}
	m := make(map[string]string, len(inst.Meta)+1)
	for k, v := range inst.Meta {
		m[k] = v
	}
	m[MetaAddr] = inst.Addr
	return m, nil
}

// hostPort splits the address part of inst for Address and Port; an address
// that is not host:port (unix@/path) goes to Address whole, with port 0.
func hostPort(inst core.Instance) (string, int) {
	hp := inst.HostPort()
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return hp, 0
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return hp, 0
	}
	return host, p
}

func (d *catalogDriver) registration(inst core.Instance, ttl time.Duration) (*api.AgentServiceRegistration, error) {
	if err := inst.Validate(); err != nil {
		return nil, err
	}
	meta, err := serviceMeta(inst)
	if err != nil {
		return nil, err
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("%w: consul catalog: ttl %v must be positive", core.ErrInvalid, ttl)
	}
	id := ServiceID(inst.Service, inst.Addr)
	host, port := hostPort(inst)
	return &api.AgentServiceRegistration{
		ID:      id,
		Name:    inst.Service,
		Address: host,
		Port:    port,
		Meta:    meta,
		Check: &api.AgentServiceCheck{
			CheckID: checkID(id),
			Name:    "discovery TTL",
			Notes:   "passed by its process every refresh interval (github.com/seedforge/discovery)",
			TTL:     ttl.String(),
			// Registered passing: the instance is listed at once. A TTL
			// check would otherwise start critical until the first pass.
			Status:                         api.HealthPassing,
			DeregisterCriticalServiceAfter: d.cfg.DeregisterCriticalAfter.String(),
		},
	}, nil
}

func (d *catalogDriver) Put(ctx context.Context, inst core.Instance, ttl time.Duration) error {
	reg, err := d.registration(inst, ttl)
	if err != nil {
		return err
	}
	if d.closed() {
		return core.ErrClosed
	}
	ctx, cancel := d.bind(ctx)
	defer cancel()
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	if err := d.api.Agent().ServiceRegisterOpts(reg, opts); err != nil {
		return d.fail(fmt.Sprintf("register %s %s", inst.Service, inst.Addr), err)
	}
	// Registering again keeps the status the check had (the agent restores
	// it from a snapshot), so a critical check stays critical until passed.
	err = d.api.Agent().UpdateTTLOpts(reg.Check.CheckID, "", api.HealthPassing, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return d.fail(fmt.Sprintf("pass check of %s %s", inst.Service, inst.Addr), err)
	}
	return nil
}

func (d *catalogDriver) KeepAlive(ctx context.Context, inst core.Instance, _ time.Duration) error {
	if d.closed() {
		return core.ErrClosed
	}
	ctx, cancel := d.bind(ctx)
	defer cancel()
	id := checkID(ServiceID(inst.Service, inst.Addr))
	// The output stays constant: a changed output would be one more catalog
	// write per refresh; an unchanged passing status costs the servers nothing.
	err := d.api.Agent().UpdateTTLOpts(id, "", api.HealthPassing, (&api.QueryOptions{}).WithContext(ctx))
	if err == nil {
		return nil
	}
	// The agent does not have our TTL check: it restarted, or the service
	// was removed (404 "Unknown check ID"), or someone re-registered the
	// service with other checks (500 "does not have associated TTL").
	var se api.StatusError
	if code := statusCode(err); code == http.StatusNotFound ||
		(errors.As(err, &se) && (strings.Contains(se.Body, "does not have associated TTL") || strings.Contains(se.Body, "Unknown check"))) {
		return fmt.Errorf("consul: check %s of %s %s: %w", id, inst.Service, inst.Addr, core.ErrNotFound)
	}
	return d.fail(fmt.Sprintf("pass check of %s %s", inst.Service, inst.Addr), err)
}

func (d *catalogDriver) Delete(ctx context.Context, inst core.Instance) error {
	if d.closed() {
		return core.ErrClosed
	}
	ctx, cancel := d.bind(ctx)
	defer cancel()
	err := d.api.Agent().ServiceDeregisterOpts(ServiceID(inst.Service, inst.Addr), (&api.QueryOptions{}).WithContext(ctx))
	if err != nil && statusCode(err) != http.StatusNotFound { // missing is fine
		return d.fail(fmt.Sprintf("deregister %s %s", inst.Service, inst.Addr), err)
	}
	return nil
}

func (d *catalogDriver) List(ctx context.Context, service string) ([]core.Instance, error) {
	return d.list(ctx, service, d.fetch)
}

func (d *catalogDriver) Watch(ctx context.Context, service string) (core.Watcher, error) {
	return d.watch(ctx, service, d.fetch)
}

// fetch queries the passing instances of service.
func (d *catalogDriver) fetch(service string) fetchFunc {
	scope := readScope{
		op:       "health of " + service,
		resource: "service",
		segment:  service,
		needs:    fmt.Sprintf("service:read on %q and node:read on the nodes running it", service),
	}
	return func(ctx context.Context, index uint64, wait time.Duration) ([]core.Instance, uint64, error) {
		entries, meta, err := d.api.Health().Service(service, "", true, d.query(ctx, index, wait))
		if err := d.checkAnswer(ctx, scope, err, meta, len(entries) == 0); err != nil {
			return nil, 0, err
		}
		list := make([]core.Instance, 0, len(entries))
		seen := make(map[string]bool, len(entries))
		for _, e := range entries {
			in, ok := d.instance(service, e)
			if !ok || seen[in.Addr] {
				continue // one record per address, even if two agents hold it
			}
			seen[in.Addr] = true
			list = append(list, in)
		}
		return list, meta.LastIndex, nil
	}
}

// instance turns a health entry into an instance: the address from MetaAddr,
// or tcp@Address:Port for services registered by other tools.
func (d *catalogDriver) instance(service string, e *api.ServiceEntry) (core.Instance, bool) {
	s := e.Service
	if s == nil {
		return core.Instance{}, false
	}
	meta := make(core.Metadata, len(s.Meta))
	addr := ""
	for k, v := range s.Meta {
		if k == MetaAddr {
			addr = v
			continue
		}
		meta[k] = v
	}
	if addr == "" {
		host := s.Address
		if host == "" && e.Node != nil {
			host = e.Node.Address
		}
		if host == "" || s.Port <= 0 {
			d.log.Warn("discovery: consul: skipping a service with no address", "service", service, "id", core.StoreData(s.ID))
			return core.Instance{}, false
		}
		addr = "tcp@" + net.JoinHostPort(host, strconv.Itoa(s.Port))
	}
	return core.Instance{Service: service, Addr: addr, Meta: meta}, true
}
