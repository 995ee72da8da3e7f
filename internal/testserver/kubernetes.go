//go:build kubernetes

package testserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/seedforge/discovery/internal/proctest"
)

// Environment variables naming the binaries scripts/install-kubernetes.sh
// builds (scripts/test.sh exports them).
const (
	EnvKubeAPIServer         = "KUBE_APISERVER_BIN"
	EnvKubeControllerManager = "KUBE_CONTROLLER_MANAGER_BIN"
)

// Tokens of the static token file: AdminToken is in system:masters;
// RestrictedToken's user "restricted" has no permission unless a test
// grants it through RBAC.
const (
	AdminToken      = "admin-token-for-tests"
	RestrictedToken = "restricted-token-for-tests"
	RestrictedUser  = "restricted"
)

// ErrNoKubeBinaries is returned by StartKube when the binaries' environment
// variables are unset.
var ErrNoKubeBinaries = errors.New("kube-apiserver and kube-controller-manager not configured: run scripts/install-kubernetes.sh and set " +
	EnvKubeAPIServer + " and " + EnvKubeControllerManager + " to the two paths it prints (scripts/test.sh does this)")

// Kube is a kube-apiserver on loopback over an embedded etcd, and a
// kube-controller-manager running only the EndpointSlice controllers.
// Started once per test package (TestMain), so not tied to a testing.TB:
// the caller calls Stop, which ends every process by its PID.
type Kube struct {
	// Host is the API server's URL, https://127.0.0.1:PORT.
	Host string
	// CA is the PEM certificate that signs the serving certificate.
	CA []byte

	dir        string
	etcd       *Etcd
	apiArgs    []string
	apiserver  *process
	controller *process
}

// process is a server started without a testing.TB.
type process struct {
	cmd  *exec.Cmd
	out  proctest.Buffer
	done chan struct{}
}

func startProcess(bin string, args ...string) (*process, error) {
	p := &process{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop sends sig to the process by its PID and waits, killing it after 10s.
func (p *process) stop(sig syscall.Signal) {
	if p == nil {
		return
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// StartKube starts etcd, the API server and the controller-manager, and
// waits until the API server is ready. On error everything started is
// stopped again.
func StartKube() (_ *Kube, err error) {
	apiBin, cmBin := os.Getenv(EnvKubeAPIServer), os.Getenv(EnvKubeControllerManager)
	if apiBin == "" || cmBin == "" {
		return nil, ErrNoKubeBinaries
	}
	dir, err := os.MkdirTemp("", "kubetest")
	if err != nil {
		return nil, err
	}
	k := &Kube{dir: dir}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, k.Logs())
			k.Stop()
		}
	}()
	if k.etcd, err = startEtcd(filepath.Join(dir, "etcd")); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	k.Host = "https://127.0.0.1:" + strconv.Itoa(port)
	if err := k.writeFiles(); err != nil {
		return nil, err
	}
	k.apiArgs = []string{
		"--etcd-servers=http://" + k.etcd.Endpoint(),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + k.path("serving.crt"), "--tls-private-key-file=" + k.path("serving.key"),
		"--endpoint-reconciler-type=none",                      // it refuses a loopback advertise address otherwise
		"--service-cluster-ip-range=10.0.0.0/24,fd00:10::/108", // dual-stack, so a test can ask for both families
		"--authorization-mode=RBAC",
		"--token-auth-file=" + k.path("tokens.csv"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + k.path("sa.key"),
		"--service-account-signing-key-file=" + k.path("sa.key"),
		"--disable-admission-plugins=ServiceAccount",
		"--profiling=false",
	}
	if err := k.startAPIServer(); err != nil {
		return nil, err
	}
	if k.controller, err = startProcess(cmBin,
		"--kubeconfig="+k.path("admin.kubeconfig"),
		"--controllers=endpointslice,endpointslicemirroring",
		"--leader-elect=false", "--secure-port=0",
	); err != nil {
		return nil, fmt.Errorf("start kube-controller-manager: %w", err)
	}
	return k, nil
}

func (k *Kube) path(name string) string { return filepath.Join(k.dir, name) }

// Kubeconfig is the path of a kubeconfig file for the admin token.
func (k *Kube) Kubeconfig() string { return k.path("admin.kubeconfig") }

// WriteKubeconfig writes a kubeconfig for token, with context "test", and
// returns its path.
func (k *Kube) WriteKubeconfig(name, token string) (string, error) {
	p := k.path(name)
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: test
  user:
    token: %s
contexts:
- name: test
  context: {cluster: test, user: test}
current-context: test
`, k.Host, k.path("serving.crt"), token)
	return p, os.WriteFile(p, []byte(cfg), 0o600)
}

func (k *Kube) startAPIServer() error {
	p, err := startProcess(os.Getenv(EnvKubeAPIServer), k.apiArgs...)
	if err != nil {
		return fmt.Errorf("start kube-apiserver: %w", err)
	}
	k.apiserver = p
	return k.waitReady(2 * time.Minute)
}

// waitReady polls /readyz until it answers ok (about 1.5s after a start).
func (k *Kube) waitReady(within time.Duration) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(k.CA)
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(within)
	for {
		req, _ := http.NewRequest("GET", k.Host+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+AdminToken)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case <-k.apiserver.done:
			return fmt.Errorf("kube-apiserver exited")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-apiserver not ready within %v: %v", within, err)
		}
		time.Sleep(50 * time.Millisecond) // polling; the deadline decides
	}
}

// KillAPIServer kills the API server (SIGKILL, as a crash) and waits for
// it to be gone; RestartAPIServer starts it again on the same port.
func (k *Kube) KillAPIServer() { k.apiserver.stop(syscall.SIGKILL) }

// RestartAPIServer starts the API server again after KillAPIServer.
func (k *Kube) RestartAPIServer() error { return k.startAPIServer() }

// Stop ends every process by its PID and removes the files.
func (k *Kube) Stop() {
	k.controller.stop(syscall.SIGTERM)
	k.apiserver.stop(syscall.SIGTERM)
	if k.etcd != nil {
		k.etcd.e.Close()
	}
	os.RemoveAll(k.dir)
}

// Logs returns the tail of both processes' output, for failed tests.
func (k *Kube) Logs() string {
	tail := func(s string) string {
		const limit = 8000
		if len(s) > limit {
			return "…" + s[len(s)-limit:]
		}
		return s
	}
	var s string
	if k.apiserver != nil {
		s += "kube-apiserver:\n" + tail(k.apiserver.out.String())
	}
	if k.controller != nil {
		s += "\nkube-controller-manager:\n" + tail(k.controller.out.String())
	}
	return s
}

// writeFiles writes the serving certificate (self-signed, for 127.0.0.1),
// the service account key, the token file and the admin kubeconfig.
func (k *Kube) writeFiles() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kube-apiserver-test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	k.CA = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	sa, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"serving.crt": k.CA,
		"serving.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		"sa.key":      pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(sa)}),
		"tokens.csv": []byte(AdminToken + ",admin,admin,system:masters\n" +
			RestrictedToken + "," + RestrictedUser + "," + RestrictedUser + "\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(k.path(name), b, 0o600); err != nil {
			return err
		}
	}
	_, err = k.WriteKubeconfig("admin.kubeconfig", AdminToken)
	return err
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
