//go:build kubernetes

package kubernetes

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/seedforge/discovery/core"
)

// AnnotationPrefix starts the Pod annotation that holds a process's metadata
// for one Service: AnnotationPrefix + service name, value in rpcx's query
// form ("weight=2&group=blue").
const AnnotationPrefix = "discovery.seedforge.io/"

// Metadata keys set from the EndpointSlice; they override annotations of
// the same name, as Kubernetes knows them better than the process.
const (
	MetaZone = "zone"
	MetaNode = "node"
	MetaPod  = "pod"
)

// target is what a service string asks for: a Service and one of its ports.
type target struct {
	service string // as the caller spelt it: "echo", "echo:grpc", "echo:8080"
	name    string // the Service name
	port    string // a port number, a port name, or "" for the only port
}

func (d *driver) target(service string) (target, error) {
	if err := checkService(service); err != nil {
		return target{}, err
	}
	name, port, _ := strings.Cut(service, ":")
	if port == "" {
		port = d.cfg.Ports[name]
	}
	return target{service: service, name: name, port: port}, nil
}

func annotationKey(serviceName string) string { return AnnotationPrefix + serviceName }

// podAnnotations returns the annotations of a Pod of the namespace, if known.
type podAnnotations func(pod string) map[string]string

// instances merges every slice of a Service into one list: the ready
// endpoints, each address at the target port, with the Pod's annotation for
// the Service joined on. bad receives annotation values that do not parse.
func instances(t target, list []*discoveryv1.EndpointSlice, pods podAnnotations, bad func(pod, value string)) ([]core.Instance, error) {
	pick, err := portPicker(t, list)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := []core.Instance{}
	for _, s := range list {
		p, ok := pick(s)
		if !ok {
			continue
		}
		network := "tcp"
		if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
			network = strings.ToLower(string(*p.Protocol))
		}
		port := strconv.Itoa(int(*p.Port))
		for _, ep := range s.Endpoints {
			// Ready is nil when unknown, which the API says to read as ready.
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			meta := endpointMeta(t, ep, pods, bad)
			for _, a := range ep.Addresses {
				addr := network + "@" + net.JoinHostPort(a, port)
				if seen[addr] {
					continue // one pod briefly in two slices while the controller moves it
				}
				seen[addr] = true
				out = append(out, core.Instance{Service: t.service, Addr: addr, Meta: meta})
			}
		}
	}
	return out, nil
}

func endpointMeta(t target, ep discoveryv1.Endpoint, pods podAnnotations, bad func(pod, value string)) core.Metadata {
	meta := core.Metadata{}
	if ref := ep.TargetRef; ref != nil && ref.Kind == "Pod" && pods != nil {
		if v, ok := pods(ref.Name)[annotationKey(t.name)]; ok {
			m, err := core.ParseMetadata(v)
			if err != nil {
				bad(ref.Name, v)
			} else {
				meta = m
			}
		}
		meta[MetaPod] = ref.Name
	}
	if ep.Zone != nil && *ep.Zone != "" {
		meta[MetaZone] = *ep.Zone
	}
	if ep.NodeName != nil && *ep.NodeName != "" {
		meta[MetaNode] = *ep.NodeName
	}
	return meta
}

// portPicker returns the function that finds t's port in a slice, or an
// error when t names no port and the Service has several, or names one that
// no endpoint has.
func portPicker(t target, list []*discoveryv1.EndpointSlice) (func(*discoveryv1.EndpointSlice) (discoveryv1.EndpointPort, bool), error) {
	number, byNumber := 0, false
	if n, err := parsePort(t.port); err == nil {
		number, byNumber = n, true
	}
	match := func(p discoveryv1.EndpointPort) bool {
		switch {
		case p.Port == nil:
			return false
		case byNumber:
			return int(*p.Port) == number
		case t.port != "":
			return p.Name != nil && *p.Name == t.port
		}
		return true
	}
	pick := func(s *discoveryv1.EndpointSlice) (discoveryv1.EndpointPort, bool) {
		for _, p := range s.Ports {
			if match(p) {
				return p, true
			}
		}
		return discoveryv1.EndpointPort{}, false
	}
	known := knownPorts(list)
	names := map[string]bool{}
	for _, k := range known {
		names[k.name] = true
	}
	if t.port == "" && len(names) > 1 {
		return nil, fmt.Errorf("%w: kubernetes: service %s has %d ports (%s): name one, e.g. %q, or in the URL k8s://namespace/%s:PORT",
			core.ErrInvalid, t.name, len(names), portList(known), t.name+":"+known[0].nameOrNumber(), t.name)
	}
	if t.port != "" && len(known) > 0 && !slices.ContainsFunc(known, func(k portInfo) bool {
		return byNumber && k.number == number || !byNumber && k.name == t.port
	}) {
		return nil, fmt.Errorf("%w: kubernetes: service %s has no endpoint port %s; its endpoints' ports are %s (endpoints carry the pods' target ports: name the port, or give the target port's number)",
			core.ErrInvalid, t.name, t.port, portList(known))
	}
	return pick, nil
}

type portInfo struct {
	name   string
	number int
}

func (p portInfo) nameOrNumber() string {
	if p.name != "" {
		return p.name
	}
	return strconv.Itoa(p.number)
}

// knownPorts lists the ports of the slices that hold endpoints.
func knownPorts(list []*discoveryv1.EndpointSlice) []portInfo {
	var out []portInfo
	for _, s := range list {
		if len(s.Endpoints) == 0 {
			continue
		}
		for _, p := range s.Ports {
			if p.Port == nil {
				continue
			}
			pi := portInfo{number: int(*p.Port)}
			if p.Name != nil {
				pi.name = *p.Name
			}
			if !slices.Contains(out, pi) {
				out = append(out, pi)
			}
		}
	}
	slices.SortFunc(out, func(a, b portInfo) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return a.number - b.number
	})
	return out
}

func portList(ps []portInfo) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		if p.name == "" {
			parts[i] = strconv.Itoa(p.number) + " (unnamed)"
		} else {
			parts[i] = p.name + "=" + strconv.Itoa(p.number)
		}
	}
	return strings.Join(parts, ", ")
}
