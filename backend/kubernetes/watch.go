//go:build kubernetes

package kubernetes

import (
	"context"
	"maps"
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/seedforge/discovery/core"
)

var podsResource = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// syncPoll is how often a new watch checks whether its informers have
// listed; client-go offers no signal for an empty list (WaitForCacheSync
// polls too, every 100ms).
const syncPoll = 10 * time.Millisecond

// informer runs one client-go informer until stopped, and reports what the
// watches need: changes, and list/watch errors.
type informer struct {
	inf    cache.SharedIndexInformer
	cancel context.CancelFunc
	done   chan struct{}
}

func runInformer(lw *cache.ListWatch, obj runtime.Object, onChange func(), onError func(error)) *informer {
	inf := cache.NewSharedIndexInformer(lw, obj, 0, cache.Indexers{})
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { onChange() },
		UpdateFunc: func(any, any) { onChange() },
		DeleteFunc: func(any) { onChange() },
	})
	// Replaces client-go's default handler, which only logs through klog.
	inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) { onError(err) })
	ctx, cancel := context.WithCancel(context.Background())
	i := &informer{inf: inf, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(i.done)
		inf.RunWithContext(ctx)
	}()
	return i
}

func (i *informer) stop() {
	i.cancel()
	<-i.done
}

// podCache is the metadata (annotations) of the Pods of one namespace,
// shared by every watch in it; it runs while at least one watch uses it.
type podCache struct {
	ns   string
	inf  *informer
	refs int

	mu   sync.Mutex
	subs map[*watcher]struct{}
	err  error // last list/watch error, nil once a list succeeded
}

func (d *driver) acquirePods(w *watcher) *podCache {
	d.mu.Lock()
	defer d.mu.Unlock()
	ns := d.cfg.Namespace
	pc := d.pods[ns]
	if pc == nil {
		pc = &podCache{ns: ns, subs: map[*watcher]struct{}{}}
		lw := &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return d.meta.Resource(podsResource).Namespace(ns).List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return d.meta.Resource(podsResource).Namespace(ns).Watch(ctx, o)
			},
		}
		pc.inf = runInformer(lw, &metav1.PartialObjectMetadata{}, pc.changed, pc.failed)
		d.pods[ns] = pc
	}
	pc.refs++
	pc.mu.Lock()
	pc.subs[w] = struct{}{}
	pc.mu.Unlock()
	return pc
}

func (d *driver) releasePods(pc *podCache, w *watcher) {
	pc.mu.Lock()
	delete(pc.subs, w)
	pc.mu.Unlock()
	d.mu.Lock()
	pc.refs--
	last := pc.refs == 0
	if last {
		delete(d.pods, pc.ns)
	}
	d.mu.Unlock()
	if last {
		pc.inf.stop()
	}
}

// changed wakes every watch of the namespace. Pod updates are frequent
// (status), but a watch only returns when its list really changed.
func (pc *podCache) changed() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.err = nil
	for w := range pc.subs {
		w.wake()
	}
}

func (pc *podCache) failed(err error) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.err = explain(err, "list/watch", "pods", pc.ns)
	for w := range pc.subs {
		w.wake()
	}
}

func (pc *podCache) annotations(pod string) map[string]string {
	obj, ok, _ := pc.inf.inf.GetIndexer().GetByKey(pc.ns + "/" + pod)
	if !ok {
		return nil
	}
	return obj.(*metav1.PartialObjectMetadata).Annotations
}

func (pc *podCache) lastErr() error {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.err
}

// watcher is one watch of one Service: an informer on its EndpointSlices,
// joined with the namespace's Pod metadata.
type watcher struct {
	d      *driver
	t      target
	slices *informer
	pods   *podCache

	changed chan struct{} // capacity 1: a change not yet looked at
	stopped chan struct{}
	once    sync.Once

	mu       sync.Mutex
	err      error // last slice list/watch error, nil once one succeeded
	last     []core.Instance
	started  bool
	warnedAt time.Time
	bad      map[string]string // pod → annotation value already reported
}

// Watch starts an informer on the Service's EndpointSlices (all of them,
// selected by the kubernetes.io/service-name label).
func (d *driver) Watch(_ context.Context, service string) (core.Watcher, error) {
	t, err := d.target(service)
	if err != nil {
		return nil, err
	}
	select {
	case <-d.closed:
		return nil, errClosed
	default:
	}
	w := &watcher{d: d, t: t, changed: make(chan struct{}, 1), stopped: make(chan struct{}), bad: map[string]string{}}
	ns, sel := d.cfg.Namespace, serviceSelector(t.name)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = sel
			return d.cs.DiscoveryV1().EndpointSlices(ns).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = sel
			return d.cs.DiscoveryV1().EndpointSlices(ns).Watch(ctx, o)
		},
	}
	w.pods = d.acquirePods(w)
	w.slices = runInformer(lw, &discoveryv1.EndpointSlice{}, w.sliceChanged, w.sliceFailed)
	return w, nil
}

func (w *watcher) wake() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *watcher) sliceChanged() {
	w.mu.Lock()
	w.err = nil
	w.mu.Unlock()
	w.wake()
}

func (w *watcher) sliceFailed(err error) {
	w.mu.Lock()
	w.err = explain(err, "list/watch", "endpointslices.discovery.k8s.io", w.d.cfg.Namespace)
	w.mu.Unlock()
	w.wake()
}

// Next returns the merged list once both informers have listed, then each
// time it changed. Refused requests (RBAC, credentials) end the watch with
// an error naming what is missing, so core logs it and retries with
// backoff. An unreachable API server ends nothing: the informers retry on
// their own while the last list stays in place, and resume with a fresh
// list, which Next returns if it differs.
func (w *watcher) Next(ctx context.Context) ([]core.Instance, error) {
	var poll <-chan time.Time
	for {
		if err := w.refused(); err != nil {
			return nil, err
		}
		if w.slices.inf.HasSynced() && w.pods.inf.inf.HasSynced() {
			poll = nil
			list, err := w.build()
			if err != nil {
				return nil, err
			}
			w.mu.Lock()
			if !w.started || !equal(w.last, list) {
				w.started, w.last = true, list
				w.mu.Unlock()
				return cloneList(list), nil
			}
			w.mu.Unlock()
		} else if poll == nil {
			t := time.NewTicker(syncPoll)
			defer t.Stop()
			poll = t.C
		}
		select {
		case <-w.changed:
		case <-poll:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-w.stopped:
			return nil, core.ErrClosed
		case <-w.d.closed:
			return nil, errClosed
		}
	}
}

// refused returns a list/watch error that retrying cannot fix by itself
// (Forbidden, Unauthorized), and logs the others (API server unreachable)
// at most every 30s while the informers retry.
func (w *watcher) refused() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, err := range []error{w.err, w.pods.lastErr()} {
		if err == nil {
			continue
		}
		if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			return err
		}
		if time.Since(w.warnedAt) > 30*time.Second {
			w.warnedAt = time.Now()
			w.d.cfg.Logger.Warn("kubernetes: API server unreachable; keeping the last list while client-go retries",
				"service", w.t.service, "err", err)
		}
	}
	return nil
}

func (w *watcher) build() ([]core.Instance, error) {
	objs := w.slices.inf.GetStore().List()
	list := make([]*discoveryv1.EndpointSlice, len(objs))
	for i, o := range objs {
		list[i] = o.(*discoveryv1.EndpointSlice)
	}
	return instances(w.t, list, w.pods.annotations, w.badAnnotation)
}

func (w *watcher) badAnnotation(pod, value string) {
	if w.bad[pod] == value { // build runs under no lock but only in Next's goroutine
		return
	}
	w.bad[pod] = value
	w.d.badAnnotation(pod, value)
}

func (w *watcher) Close() error {
	w.once.Do(func() {
		close(w.stopped)
		w.slices.stop()
		w.d.releasePods(w.pods, w)
	})
	return nil
}

func equal(a, b []core.Instance) bool {
	if len(a) != len(b) {
		return false
	}
	idx := make(map[string]core.Metadata, len(a))
	for _, i := range a {
		idx[i.Addr] = i.Meta
	}
	for _, i := range b {
		m, ok := idx[i.Addr]
		if !ok || !maps.Equal(m, i.Meta) {
			return false
		}
	}
	return true
}

func cloneList(l []core.Instance) []core.Instance {
	out := make([]core.Instance, len(l))
	copy(out, l)
	return out
}
