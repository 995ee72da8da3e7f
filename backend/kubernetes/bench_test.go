//go:build kubernetes

package kubernetes_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/internal/testserver"
)

// BenchmarkPodReadyToSubscriber measures, per op, one pod turning Ready
// until a subscriber of core's watch sees it, and beside it (metric
// informer-ms) when a raw client-go informer on the same EndpointSlices saw
// the slice with the pod ready, in the same run. Most of the time is the
// EndpointSlice controller's; the difference is this backend's own cost.
//
//	go test -tags "etcd kubernetes" -run '^$' -bench PodReady -benchtime 10x ./backend/kubernetes/
func BenchmarkPodReadyToSubscriber(b *testing.B) {
	ns := newNamespace(b)
	ctx := ctxFor(b, 10*time.Minute)
	must(b, testserver.CreateService(ctx, admin, ns, "bench", testserver.ServicePort("http", 80, "http")))

	// The raw informer: when its handler first saw each address ready.
	var mu sync.Mutex
	firstSeen := map[string]time.Time{}
	f := informers.NewSharedInformerFactoryWithOptions(admin, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = discoveryv1.LabelServiceName + "=bench" }))
	inf := f.Discovery().V1().EndpointSlices().Informer()
	onSlice := func(obj any) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		for _, ep := range obj.(*discoveryv1.EndpointSlice).Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				for _, a := range ep.Addresses {
					if _, ok := firstSeen[a]; !ok {
						firstSeen[a] = now
					}
				}
			}
		}
	}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: onSlice, UpdateFunc: func(_, o any) { onSlice(o) }})
	stop := make(chan struct{})
	defer func() { close(stop); f.Shutdown() }()
	f.Start(stop)

	dis, err := core.NewDiscovery(newDriver(b, ns, ""), core.Options{})
	must(b, err)
	defer dis.Close()
	ch, err := dis.Watch(ctx, "bench")
	must(b, err)
	<-ch

	var rawTotal, subTotal time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		ip := fmt.Sprintf("10.12.%d.%d", i/200, 1+i%200)
		name := fmt.Sprintf("bench-%d", i)
		createPod(b, ns, testserver.Pod{Name: name, App: "bench", IPs: []string{ip}, Ports: map[string]int32{"http": 8080}, Ready: false})
		b.StartTimer()
		start := time.Now()
		setReady(b, ns, name, ip, true)
		want := "tcp@" + ip + ":8080"
		for got := false; !got; {
			select {
			case l := <-ch:
				got = slices.ContainsFunc(l, func(in core.Instance) bool { return in.Addr == want })
			case <-ctx.Done():
				b.Fatalf("pod %s not seen", ip)
			}
		}
		subTotal += time.Since(start)
		b.StopTimer()
		// The raw informer's handler ran before or about when ours did.
		for {
			mu.Lock()
			at, ok := firstSeen[ip]
			mu.Unlock()
			if ok {
				rawTotal += at.Sub(start)
				break
			}
			if ctx.Err() != nil {
				b.Fatalf("raw informer never saw %s", ip)
			}
			time.Sleep(time.Millisecond) // polling; the context's deadline decides
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(subTotal.Microseconds())/1000/float64(b.N), "subscriber-ms/op")
	b.ReportMetric(float64(rawTotal.Microseconds())/1000/float64(b.N), "informer-ms/op")
}
