//go:build kubernetes

package kubernetes_test

import (
	"flag"
	"log/slog"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/seedforge/discovery/backend/kubernetes"
	"github.com/seedforge/discovery/internal/leaktest"
	"github.com/seedforge/discovery/internal/proctest"
	"github.com/seedforge/discovery/internal/testserver"
)

// client-go's own log lines (klog) reach the open driver's slog logger, at
// verbosity 0 only: even with klog's -v at its highest, the request lines
// (URLs, headers with the token's place) client-go logs from V(6) up never
// come through. Once the driver is closed, they stop reaching its logger.
func TestClientGoLogsReachTheDriversLogger(t *testing.T) {
	leaktest.Check(t)
	ns := newNamespace(t)
	ctx := ctxFor(t, settle)
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	must(t, fs.Set("v", "10"))
	t.Cleanup(func() { fs.Set("v", "0") })

	var buf proctest.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// Made at -v=10, so client-go wraps its transport with request logging.
	d, err := kubernetes.New(kubernetes.Config{REST: kube.RESTConfig(testserver.AdminToken), Namespace: ns, Logger: log})
	must(t, err)
	defer d.Close()
	if _, err := d.List(ctx, "nothing"); err != nil {
		t.Fatal(err)
	}
	// The API server answers this create with a Warning header, which
	// client-go's default warning handler logs through klog.
	deprecated := func(name string) {
		t.Helper()
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				NodeSelector: map[string]string{"beta.kubernetes.io/os": "linux"},
				Containers:   []corev1.Container{{Name: "app", Image: "none"}},
			},
		}
		_, err := admin.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		must(t, err)
	}
	deprecated("warned-1")
	got := buf.String()
	if !strings.Contains(got, "client-go: Warning: ") || !strings.Contains(got, "beta.kubernetes.io/os") {
		t.Fatalf("client-go's warning did not reach the driver's logger; it logged:\n%s", got)
	}
	for _, leak := range []string{testserver.AdminToken, "Bearer", "Authorization", "GET ", "/apis/discovery.k8s.io"} {
		if strings.Contains(got, leak) {
			t.Errorf("the driver's logger got a request line of client-go (%q):\n%s", leak, got)
		}
	}

	// Should a line ever carry the driver's token, it is scrubbed.
	// Scrubbed before values are cut to size: a cut through the token
	// must not leave its first bytes.
	klog.Errorf("refused: Authorization: Bearer %s", testserver.AdminToken)
	klog.InfoS("long", "value", strings.Repeat("a", 240)+testserver.AdminToken+strings.Repeat("b", 100))
	got = buf.String()
	if strings.Contains(got, testserver.AdminToken[:8]) || !strings.Contains(got, "refused: Authorization: Bearer xxxxx") ||
		!strings.Contains(got, "(345 bytes)") {
		t.Errorf("klog lines with the driver's token were not scrubbed, then cut:\n%s", got)
	}

	must(t, d.Close())
	deprecated("warned-2")
	if after := buf.String(); after != got {
		t.Errorf("a closed driver's logger still receives client-go's lines:\n%s", after[len(got):])
	}
}
