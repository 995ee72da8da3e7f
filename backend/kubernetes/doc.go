//go:build kubernetes

// Package kubernetes discovers services through the Kubernetes API
// (discovery.k8s.io/v1 EndpointSlices, through k8s.io/client-go v0.37.2)
// and publishes a process's metadata as an annotation on its own Pod.
// Kubernetes decides membership and liveness (readiness probes); this
// backend adds the rpcx-style metadata (weight, group, version, state,
// tps) that selectors and filters use.
//
// Compiled in with the build tag kubernetes. URL form, as go-zero writes it:
//
//	k8s://namespace/service:port?kubeconfig=/path&context=name
//	k8s://namespace                 (services named in Watch/Register)
//	k8s:///service:port             (the default namespace)
//
// The namespace defaults to the pod's own (its service account's namespace
// file), then the kubeconfig context's, then "default". Options:
//
//	kubeconfig=PATH   a kubeconfig file (default: in-cluster config inside a
//	                  pod, else $KUBECONFIG or ~/.kube/config, as kubectl)
//	context=NAME      a context of that kubeconfig
//
// # Service names
//
// A service is a Kubernetes Service name (a DNS-1035 label: lower-case
// letters, digits, '-'), optionally followed by ":port": a port name
// ("echo:grpc") or a number ("echo:9000"). Anything else fails at once
// with core.ErrInvalid. The port is the endpoints' port, that is the pods'
// target port, not the Service's own port: a Service port 80 forwarding to
// 8080 is "echo:8080" or, better, its name. Without a port, the one named
// in the URL's path for that service applies (k8s://ns/echo:grpc makes
// Watch("echo") use "grpc"); a Service with a single port needs none. A
// Service with several ports and none named is an error listing them.
//
// # Discovery
//
// A Watch runs one informer per service on its EndpointSlices, selected by
// the label kubernetes.io/service-name, and merges all of them: a Service
// with more than 100 endpoints has several slices, and a change to one
// never hides the others. Each endpoint whose ready condition is true (or
// unset, which the API says to read as ready) becomes one instance per
// address: "tcp@10.1.0.7:8080", "tcp@[fd00::7]:8080" (a dual-stack Service
// has one slice per family, so a dual-stack pod is listed once per family),
// "udp@…" for UDP ports. Endpoints that are serving but terminating are not
// ready, so they are left out as soon as their pod starts terminating;
// clients should rather see the drain described below, which comes first.
//
// Metadata of each instance: the annotation AnnotationPrefix+service
// ("discovery.seedforge.io/echo") of the endpoint's Pod (targetRef), parsed
// as rpcx's query form, plus "zone" and "node" from the slice and "pod",
// which override the annotation's keys of the same names. Pods without the
// annotation are listed with those three keys only (weight 1, active). A
// namespace's Pod metadata comes from one metadata-only informer shared by
// every watch of the driver (no pod specs or statuses are cached).
//
// Core's cache, filters, selectors and outage behaviour apply unchanged.
// When the API server is unreachable the informers retry by themselves
// and the watch sends nothing, so subscribers keep the last list (a
// warning is logged at most every 30s); when it is back they list again
// and the watch sends the new list if it differs. A request the API
// server refuses (Forbidden, Unauthorized) ends the watch with an error
// naming the verb, resource and namespace (ErrForbidden), which core logs
// at every retry, so missing RBAC never fails silently.
//
// # Registration
//
// Register does not make an instance appear: Kubernetes lists the pods
// that are ready. It publishes the instance's metadata on the process's
// own Pod, named by the downward API (env POD_NAME and POD_NAMESPACE, see
// examples/kubernetes/deploy/echo.yaml), as the annotation of the
// service (without its port: the metadata of a pod for a Service is the
// same on every port). Put is a JSON merge patch of that annotation;
// core writes it only when the metadata or the published load changed
// (at most once per refresh interval). KeepAlive does nothing: an
// annotation does not expire, and reading the Pod back every interval from
// every replica would load the API server for nothing. Outside a pod (no
// POD_NAME) Register fails at once with ErrNotInPod, which wraps
// core.ErrInvalid, saying what to set.
//
// Delete (Deregister, and Close of the Registrar) replaces the annotation
// with "state=inactive" rather than removing it: the pod stays in the
// EndpointSlice until Kubernetes sees it go, and "inactive" is what makes
// clients stop sending to it meanwhile. So on SIGTERM, close the Registrar
// first, keep serving for a drain period, then exit (the pod's
// terminationGracePeriodSeconds must cover it): subscribers drop the
// instance about one watch event after Close, before the controller
// removes the terminating pod. A new process in the same Pod that
// registers again overwrites the mark.
//
// # RBAC
//
// The minimal Role, in the namespace of the Services and of the Pods
// (examples/kubernetes/deploy/rbac.yaml, checked by the tests):
//
//	rules:
//	  - apiGroups: ["discovery.k8s.io"]
//	    resources: ["endpointslices"]
//	    verbs: ["list", "watch"]                  # discovery
//	  - apiGroups: [""]
//	    resources: ["pods"]
//	    verbs: ["get", "list", "watch", "patch"]  # metadata join; Register
//
// # Logging
//
// The driver logs through Config.Logger (from a URL: core's Options.Logger).
// client-go logs through klog, which is process-global: importing this
// package points klog, during program initialisation, at the logger of the
// oldest open driver (slog.Default() while none is open), messages prefixed
// "client-go: ", client-go's errors at Warn (it retries them itself; a
// call that fails reaches core as its error), its other lines at Info,
// values cut like store data and the driver's bearer token scrubbed. Only
// klog's verbosity 0 passes, whatever -v says: from V(6) up client-go logs
// requests (URLs, headers), which have no place in an application's log.
// A program that configures klog itself (klog.SetLogger in main) overrides
// this, as main runs after package initialisation.
//
// # Latency
//
// BenchmarkPodReadyToSubscriber, 2-core VM under load, 20 pods per run:
// pod status Ready → a core subscriber sees the instance in 37.0 ms and
// 132.5 ms (two runs), against 36.8 ms and 132.6 ms for a raw client-go
// informer's handler on the same slices in the same runs: the time is the
// EndpointSlice controller's, this backend adds nothing measurable.
//
// # Tests
//
// The tests run a real kube-apiserver and kube-controller-manager (only
// the EndpointSlice controllers) on an embedded etcd; no kubelet runs, so
// they create Nodes and write Pod statuses themselves. Build both once
// with scripts/install-kubernetes.sh (about 14 minutes on 2 cores) and set
// KUBE_APISERVER_BIN and KUBE_CONTROLLER_MANAGER_BIN to the two paths it
// prints; scripts/test.sh does both. Without them the tests skip, except
// in CI (CI=true), where they fail.
//
// The in-cluster path is tested as a pod would run it: the test binary
// re-runs itself under unshare(1) in a private mount namespace whose
// /var/run/secrets/kubernetes.io/serviceaccount is a tmpfs holding a
// service account token the API server issued (TokenRequest), its CA and
// the namespace, with KUBERNETES_SERVICE_HOST/PORT, POD_NAME and
// POD_NAMESPACE set and the documented Role bound to the account. The
// child opens k8s:///service:port (no kubeconfig, no namespace), lists the
// Service's ready endpoints and registers; the parent sees Register's
// annotation, then Close's state=inactive, on the Pod. This needs root
// (CAP_SYS_ADMIN): without it the test skips, except in CI, where it fails.
// Another test checks that client-go's klog lines reach the driver's
// logger and that its request lines do not, even at klog -v=10.
package kubernetes
