//go:build kubernetes

package kubernetes_test

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/seedforge/discovery"
	"github.com/seedforge/discovery/backend/kubernetes"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/testserver"
)

// The in-cluster test re-runs this test binary as if inside a pod: in a
// private mount namespace whose /var/run/secrets/kubernetes.io/serviceaccount
// is a tmpfs holding a service account token, the API server's CA and the
// namespace, with the env a kubelet sets. The host's own mounts and files
// are never touched.
const (
	envInClusterChild  = "DISCOVERY_TEST_INCLUSTER_CHILD"
	envInClusterWant   = "DISCOVERY_TEST_INCLUSTER_WANT"
	serviceAccountDir  = "/var/run/secrets/kubernetes.io/serviceaccount"
	inClusterTmpfsName = "discovery-incluster-test" // the tmpfs's source, to find it in mountinfo
)

// inClusterScript runs inside the new mount namespace: $1 is where the
// tmpfs goes, $2 the directory with the three files (opened first, in case
// the tmpfs hides it), then the command to exec.
const inClusterScript = `set -e
exec 3<"$2/token" 4<"$2/ca.crt" 5<"$2/namespace"
mount -t tmpfs -o size=1m,mode=0755 ` + inClusterTmpfsName + ` "$1"
mkdir -p ` + serviceAccountDir + `
cat <&3 >` + serviceAccountDir + `/token
cat <&4 >` + serviceAccountDir + `/ca.crt
cat <&5 >` + serviceAccountDir + `/namespace
shift 2
exec "$@"`

// A process in a pod opens k8s:///incluster:http with no kubeconfig and no
// namespace: it must find the API server, its credentials and its namespace
// the way a pod does (rest.InClusterConfig and the service account files),
// list the Service's ready endpoints, and annotate its own Pod on Register
// (and mark it inactive on Close), all under the Role the docs give.
func TestInClusterConfig(t *testing.T) {
	ns := newNamespace(t)
	mountPoint := needMountNamespace(t)
	ctx := ctxFor(t, 4*settle)
	const svc, pod, sa, want = "incluster", "incluster-1", "incluster", "tcp@10.14.0.1:8080"
	must(t, testserver.CreateService(ctx, admin, ns, svc, testserver.ServicePort("http", 80, "http")))
	createPod(t, ns, testserver.Pod{Name: pod, App: svc, IPs: []string{"10.14.0.1"}, Ports: map[string]int32{"http": 8080}, Ready: true})
	// Published before the child starts, so its one List is decisive.
	d := newDriver(t, ns, "")
	coretest.Poll(t, settle, "the endpoint published", func() error {
		l, err := d.List(ctx, svc)
		if err == nil && !slices.Equal(coretest.Addrs(l), []string{want}) {
			err = fmt.Errorf("instances %v", coretest.Addrs(l))
		}
		return err
	})

	// The pod's service account, with the documented Role, and a token the
	// API server signed for it, as a kubelet projects it into the pod.
	_, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
	must(t, err)
	grantMinimalRole(t, ns, "system:serviceaccount:"+ns+":"+sa) // a service account's user name
	expiry := int64(600)
	tok, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	must(t, err)
	files := t.TempDir()
	for name, b := range map[string][]byte{"token": []byte(tok.Status.Token), "ca.crt": kube.CA, "namespace": []byte(ns)} {
		must(t, os.WriteFile(filepath.Join(files, name), b, 0o600))
	}

	// Every change to the Pod from here on, in order.
	p, err := admin.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	must(t, err)
	w, err := admin.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + pod, ResourceVersion: p.ResourceVersion})
	must(t, err)
	defer w.Stop()

	// Inside a pod the in-cluster config comes before $KUBECONFIG: this one
	// names a user without any permission, so using it fails the child.
	decoy, err := kube.WriteKubeconfig("incluster-decoy.kubeconfig", testserver.RestrictedToken)
	must(t, err)
	u, err := url.Parse(kube.Host)
	must(t, err)
	self, err := os.Executable()
	must(t, err)
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private",
		"sh", "-c", inClusterScript, "sh", mountPoint, files,
		self, "-test.run=^TestInClusterChild$", "-test.v", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(),
		envInClusterChild+"=1", envInClusterWant+"="+want,
		"KUBERNETES_SERVICE_HOST="+u.Hostname(), "KUBERNETES_SERVICE_PORT="+u.Port(),
		kubernetes.EnvPodName+"="+pod, kubernetes.EnvPodNamespace+"="+ns,
		"KUBECONFIG="+decoy,
	)
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestInClusterChild")) {
		t.Fatalf("the in-cluster child failed (%v):\n%s", err, out)
	}
	if mounts, err := os.ReadFile("/proc/self/mountinfo"); err != nil || bytes.Contains(mounts, []byte(inClusterTmpfsName)) {
		t.Errorf("the child's tmpfs is visible outside its mount namespace (or mountinfo unreadable: %v)", err)
	}

	// The Pod's annotation as the child left it: its metadata after
	// Register, then the drain mark of Close.
	key := kubernetes.AnnotationPrefix + svc
	var seen []string
	timeout := time.NewTimer(settle)
	defer timeout.Stop()
	for !(slices.ContainsFunc(seen, func(v string) bool { return strings.Contains(v, "weight=7") }) &&
		len(seen) > 0 && seen[len(seen)-1] == "state=inactive") {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("pod watch ended; annotations seen: %q", seen)
			}
			if ev.Type != watch.Modified {
				t.Fatalf("pod event %s: %v", ev.Type, ev.Object)
			}
			if v := ev.Object.(*corev1.Pod).Annotations[key]; len(seen) == 0 || seen[len(seen)-1] != v {
				seen = append(seen, v)
			}
		case <-timeout.C:
			t.Fatalf("annotation %s: saw %q; want weight=7 (Register) then state=inactive (Close)", key, seen)
		}
	}
}

// TestInClusterChild is the process TestInClusterConfig starts "in a pod".
func TestInClusterChild(t *testing.T) {
	if os.Getenv(envInClusterChild) == "" {
		t.Skip("run by TestInClusterConfig inside a mount namespace of its own")
	}
	ctx := ctxFor(t, time.Minute)
	c, err := discovery.OpenContext(ctx, "k8s:///incluster:http", discovery.Config{})
	must(t, err)
	l, err := c.Instances(ctx, "incluster")
	must(t, err)
	want := os.Getenv(envInClusterWant)
	if got := coretest.Addrs(l); !slices.Equal(got, []string{want}) {
		t.Errorf("Instances(incluster) = %v; want [%s]", got, want)
	}
	must(t, c.Register(ctx, core.Instance{Service: "incluster", Addr: want, Meta: core.Metadata{"weight": "7"}}))
	must(t, c.Close())
}

// needMountNamespace returns where the child's tmpfs goes: the service
// account directory if this host has one (then the child sees ours, not
// it), else its nearest existing ancestor (usually /run). It skips when
// this process may not make a mount namespace and mount in it, except in
// CI, where that fails.
func needMountNamespace(t *testing.T) string {
	t.Helper()
	p := serviceAccountDir
	for {
		if _, err := os.Lstat(p); err == nil {
			break
		}
		p = filepath.Dir(p)
	}
	p, err := filepath.EvalSymlinks(p)
	must(t, err)
	probe := exec.Command("unshare", "--mount", "--propagation", "private",
		"sh", "-c", `mount -t tmpfs -o size=1m `+inClusterTmpfsName+` "$1"`, "sh", p)
	if out, err := probe.CombinedOutput(); err != nil {
		why := "a private mount namespace with a tmpfs on " + p + " is needed (root and unshare(1)): " + err.Error()
		if o := strings.TrimSpace(string(out)); o != "" {
			why += ": " + o
		}
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	return p
}
