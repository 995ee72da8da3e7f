//go:build kubernetes

package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/connrotation"

	"github.com/seedforge/discovery/core"
)

// ErrForbidden is wrapped by errors of requests the API server refused for
// lack of RBAC permission; the message names the verb, resource and namespace.
var ErrForbidden = errors.New("kubernetes: forbidden")

// ErrNotInPod is wrapped by Register's error when the process does not know
// its Pod (no POD_NAME); it also wraps core.ErrInvalid, so core fails at once.
var ErrNotInPod = errors.New("kubernetes: not running in a known pod")

var errClosed = fmt.Errorf("kubernetes: driver closed: %w", core.ErrClosed)

type driver struct {
	cfg    Config
	cs     k8s.Interface
	meta   metadata.Interface
	http   *http.Client
	dialer *connrotation.Dialer // closes every connection on Close
	// unrouteKlog stops client-go's log lines going to cfg.Logger.
	unrouteKlog func()

	closeOnce sync.Once
	closed    chan struct{}

	mu   sync.Mutex
	pods map[string]*podCache // by namespace, shared by the watches in it
}

func newDriver(cfg Config, rc *rest.Config) (*driver, error) {
	// Our own dialer keeps client-go from sharing a cached transport between
	// drivers, and lets Close end every connection (no goroutine outlives it).
	dialer := connrotation.NewDialer((&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext)
	rc.Dial = dialer.DialContext
	if rc.UserAgent == "" {
		rc.UserAgent = "seedforge-discovery"
	}
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, fmt.Errorf("%w: kubernetes: client config: %v", core.ErrInvalid, err)
	}
	cs, err := k8s.NewForConfigAndClient(rc, hc)
	if err != nil {
		return nil, fmt.Errorf("%w: kubernetes: client config: %v", core.ErrInvalid, err)
	}
	mc, err := metadata.NewForConfigAndClient(rc, hc)
	if err != nil {
		return nil, fmt.Errorf("%w: kubernetes: client config: %v", core.ErrInvalid, err)
	}
	// The token is scrubbed from client-go's lines, should one ever carry
	// it (only verbosity 0 passes, which logs no requests).
	var secrets []string
	if rc.BearerToken != "" {
		secrets = []string{rc.BearerToken}
	}
	return &driver{cfg: cfg, cs: cs, meta: mc, http: hc, dialer: dialer,
		unrouteKlog: routeKlog(cfg.Logger, secrets),
		closed:      make(chan struct{}), pods: map[string]*podCache{}}, nil
}

// ValidateService implements core.NameValidator: a Kubernetes Service name
// with an optional :port, so a typo fails at Register and Watch at once.
func (d *driver) ValidateService(service string) error { return checkService(service) }

var _ core.NameValidator = (*driver)(nil)

// Put publishes inst's metadata as an annotation on this process's Pod.
// Kubernetes decides the address and liveness; the annotation only adds
// metadata to the endpoints of that Pod. ttl has no meaning here: an
// annotation lives as long as the Pod.
func (d *driver) Put(ctx context.Context, inst core.Instance, _ time.Duration) error {
	return d.annotate(ctx, inst, inst.Meta.Encode())
}

// KeepAlive does nothing: annotations do not expire, and the Pod's
// readiness, not a lease, decides whether the instance is listed. Reading
// the Pod back every interval from every replica would only load the API
// server; changed metadata and load are written by Put, which core already
// rate-limits.
func (d *driver) KeepAlive(context.Context, core.Instance, time.Duration) error {
	select {
	case <-d.closed:
		return errClosed
	default:
		return nil
	}
}

// Delete marks the Pod's endpoints of inst's Service inactive instead of
// removing the annotation: the Pod stays in the EndpointSlice until
// Kubernetes sees it go, and "inactive" is what makes clients stop sending
// to it meanwhile (the drain of a rolling update). The user's other
// metadata is dropped.
func (d *driver) Delete(ctx context.Context, inst core.Instance) error {
	return d.annotate(ctx, inst, core.Metadata{core.MetaState: core.StateInactive}.Encode())
}

func (d *driver) annotate(ctx context.Context, inst core.Instance, value string) error {
	select {
	case <-d.closed:
		return errClosed
	default:
	}
	if d.cfg.PodName == "" {
		return fmt.Errorf("%w: %w: Register publishes metadata on the process's own Pod: set %s and %s from the downward API (env valueFrom.fieldRef metadata.name and metadata.namespace), see examples/kubernetes",
			core.ErrInvalid, ErrNotInPod, EnvPodName, EnvPodNamespace)
	}
	name, _, _ := strings.Cut(inst.Service, ":")
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{annotationKey(name): value}}})
	if err != nil {
		return err
	}
	_, err = d.cs.CoreV1().Pods(d.cfg.PodNamespace).Patch(ctx, d.cfg.PodName, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%w: kubernetes: pod %s/%s (from %s/%s) does not exist: %v", core.ErrInvalid, d.cfg.PodNamespace, d.cfg.PodName, EnvPodNamespace, EnvPodName, err)
	}
	return explain(err, "patch", "pods", d.cfg.PodNamespace)
}

// List reads the Service's slices and the Pods' metadata once.
func (d *driver) List(ctx context.Context, service string) ([]core.Instance, error) {
	t, err := d.target(service)
	if err != nil {
		return nil, err
	}
	ns := d.cfg.Namespace
	sl, err := d.cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: serviceSelector(t.name)})
	if err != nil {
		return nil, explain(err, "list", "endpointslices.discovery.k8s.io", ns)
	}
	pods, err := d.meta.Resource(podsResource).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, explain(err, "list", "pods", ns)
	}
	ann := make(map[string]map[string]string, len(pods.Items))
	for _, p := range pods.Items {
		ann[p.Name] = p.Annotations
	}
	slices := make([]*discoveryv1.EndpointSlice, len(sl.Items))
	for i := range sl.Items {
		slices[i] = &sl.Items[i]
	}
	return instances(t, slices, func(pod string) map[string]string { return ann[pod] }, d.badAnnotation)
}

// Services implements core.ServiceLister from the EndpointSlices of the
// namespace (the permission discovery already needs): every Service with
// endpoints, by name, or as name:port for each port of a Service with
// several, so that every name it returns can be listed.
func (d *driver) Services(ctx context.Context) ([]string, error) {
	ns := d.cfg.Namespace
	sl, err := d.cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName})
	if err != nil {
		return nil, explain(err, "list", "endpointslices.discovery.k8s.io", ns)
	}
	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for i := range sl.Items {
		s := &sl.Items[i]
		name := s.Labels[discoveryv1.LabelServiceName]
		bySvc[name] = append(bySvc[name], s)
	}
	var out []string
	for name, slices := range bySvc {
		ports := knownPorts(slices)
		names := map[string]bool{}
		for _, p := range ports {
			names[p.name] = true
		}
		if len(names) <= 1 {
			out = append(out, name)
			continue
		}
		for _, p := range ports {
			out = append(out, name+":"+p.nameOrNumber())
		}
	}
	return out, nil
}

var _ core.ServiceLister = (*driver)(nil)

func (d *driver) badAnnotation(pod, value string) {
	const limit = 200
	if len(value) > limit {
		value = value[:limit] + "…"
	}
	d.cfg.Logger.Warn("kubernetes: pod annotation is not a metadata query string; endpoint kept without it",
		"namespace", d.cfg.Namespace, "pod", pod, "value", value)
}

func (d *driver) Close() error {
	d.closeOnce.Do(func() {
		close(d.closed)
		d.unrouteKlog()
		d.dialer.CloseAll()
		d.http.CloseIdleConnections()
	})
	return nil
}

// explain turns an RBAC refusal into an error that names what to grant.
func explain(err error, verb, resource, ns string) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w: the API server refused to let this client %s %s in namespace %q: grant it in a Role bound to the pod's service account (see the Role in backend/kubernetes's docs): %w",
			ErrForbidden, verb, resource, ns, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("kubernetes: %s %s in namespace %q: the API server did not accept the client's credentials (token or certificate): %w", verb, resource, ns, err)
	}
	return fmt.Errorf("kubernetes: %s %s in namespace %q: %w", verb, resource, ns, err)
}

func serviceSelector(name string) string { return discoveryv1.LabelServiceName + "=" + name }
