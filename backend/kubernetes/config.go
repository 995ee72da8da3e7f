//go:build kubernetes

package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/seedforge/discovery/core"
)

func init() {
	core.RegisterBackend(core.Backend{Scheme: Scheme, Open: open})
}

// Scheme is the URL scheme of this backend, as in go-zero: k8s://ns/svc:port.
const Scheme = "k8s"

// Where a pod finds itself (downward API) and its namespace (service account).
const (
	EnvPodName      = "POD_NAME"
	EnvPodNamespace = "POD_NAMESPACE"
	namespaceFile   = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
)

// Config configures a driver made in code; the URL options map onto it.
type Config struct {
	// Namespace of the Services watched. Default: the pod's own namespace
	// (service account file), then the kubeconfig context's, then "default".
	Namespace string
	// REST is the API server connection. When nil it is loaded like kubectl
	// does: Kubeconfig and Context if set, in-cluster config inside a pod,
	// otherwise $KUBECONFIG or ~/.kube/config.
	REST *rest.Config
	// Kubeconfig is a kubeconfig file path; Context one of its contexts.
	Kubeconfig, Context string
	// PodName and PodNamespace name the Pod that Register annotates: this
	// process's own, from the downward API (env POD_NAME, POD_NAMESPACE).
	// Empty PodName: Register fails at once, saying what to set.
	PodName, PodNamespace string
	// Ports maps a service name to the port its URL path named
	// (k8s://ns/echo:grpc makes Watch("echo") use port "grpc").
	Ports map[string]string
	// Logger receives watch errors, and client-go's klog lines while this
	// is the oldest open driver (see Logging in the package doc). Default
	// slog.Default().
	Logger *slog.Logger
}

// open builds a driver from k8s://[namespace][/service:port]?kubeconfig=…&context=….
func open(_ context.Context, t core.Target, p *core.Params) (core.Driver, error) {
	if t.User != nil || len(t.Hosts) > 1 {
		return nil, fmt.Errorf("%w: k8s URL %s: write it as k8s://namespace/service:port or k8s://namespace (no user, one namespace)",
			core.ErrInvalid, core.Redact("k8s://"+t.Raw))
	}
	cfg := Config{
		Kubeconfig:   p.String("kubeconfig", ""),
		Context:      p.String("context", ""),
		PodName:      os.Getenv(EnvPodName),
		PodNamespace: os.Getenv(EnvPodNamespace),
		Logger:       t.Logger,
	}
	if len(t.Hosts) == 1 {
		cfg.Namespace = t.Hosts[0]
	}
	if path := strings.Trim(t.Path, "/"); path != "" {
		svc, port, err := splitService(path)
		if err != nil {
			return nil, err
		}
		if port != "" {
			cfg.Ports = map[string]string{svc: port}
		}
	}
	return New(cfg)
}

// New checks cfg and returns a driver. It talks to the API server only when
// used; the informers of a service start with its first Watch.
func New(cfg Config) (core.Driver, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Namespace != "" {
		if errs := validation.IsDNS1123Label(cfg.Namespace); len(errs) > 0 {
			return nil, fmt.Errorf("%w: kubernetes: namespace %q: %s", core.ErrInvalid, cfg.Namespace, strings.Join(errs, "; "))
		}
	}
	restCfg, ns, err := loadREST(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Namespace == "" {
		cfg.Namespace = ns
	}
	if cfg.PodNamespace == "" {
		cfg.PodNamespace = cfg.Namespace
	}
	for svc, port := range cfg.Ports {
		if err := checkService(svc + ":" + port); err != nil {
			return nil, err
		}
	}
	return newDriver(cfg, restCfg)
}

// loadREST returns the connection config and the namespace that applies when
// none is given.
func loadREST(cfg Config) (*rest.Config, string, error) {
	podNS := ""
	if b, err := os.ReadFile(namespaceFile); err == nil {
		podNS = strings.TrimSpace(string(b))
	}
	fallback := func(ns string) string {
		switch {
		case podNS != "":
			return podNS
		case ns != "":
			return ns
		}
		return "default"
	}
	if cfg.REST != nil {
		return rest.CopyConfig(cfg.REST), fallback(""), nil
	}
	if cfg.Kubeconfig == "" && cfg.Context == "" {
		if rc, err := rest.InClusterConfig(); err == nil {
			return rc, fallback(""), nil
		} else if !errors.Is(err, rest.ErrNotInCluster) {
			return nil, "", fmt.Errorf("kubernetes: in-cluster config: %w", err)
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if cfg.Kubeconfig != "" {
		if _, err := os.Stat(cfg.Kubeconfig); err != nil {
			return nil, "", fmt.Errorf("%w: kubernetes: kubeconfig=%s: %v", core.ErrInvalid, cfg.Kubeconfig, err)
		}
		rules.ExplicitPath = cfg.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: cfg.Context})
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("%w: kubernetes: no API server configured (not in a pod, and the kubeconfig gave none): %v; pass kubeconfig=PATH (and context=NAME) in the URL",
			core.ErrInvalid, err)
	}
	ns, _, _ := cc.Namespace()
	return rc, fallback(ns), nil
}

// splitService splits "echo:grpc" or "echo:8080" into name and port, and
// checks both against Kubernetes' rules.
func splitService(s string) (svc, port string, err error) {
	if err := checkService(s); err != nil {
		return "", "", err
	}
	svc, port, _ = strings.Cut(s, ":")
	return svc, port, nil
}

// checkService accepts what can name a Service port: a Service name (a
// DNS-1035 label) and an optional ":port", a number or a port name.
func checkService(s string) error {
	svc, port, hasPort := strings.Cut(s, ":")
	if errs := validation.IsDNS1035Label(svc); len(errs) > 0 {
		return fmt.Errorf("%w: kubernetes: service %q must be a Kubernetes Service name (%s), optionally followed by :port or :port-name",
			core.ErrInvalid, s, strings.Join(errs, "; "))
	}
	if !hasPort {
		return nil
	}
	if n, err := parsePort(port); err == nil {
		if n < 1 || n > 65535 {
			return fmt.Errorf("%w: kubernetes: service %q: port %d out of range 1-65535", core.ErrInvalid, s, n)
		}
		return nil
	}
	if errs := validation.IsValidPortName(port); len(errs) > 0 {
		return fmt.Errorf("%w: kubernetes: service %q: port %q is neither a number nor a port name (%s)",
			core.ErrInvalid, s, port, strings.Join(errs, "; "))
	}
	return nil
}

// parsePort reads a port given by number; a port name is not an error here.
func parsePort(s string) (int, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	return strconv.Atoi(s)
}
