package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/proctest"
	"github.com/seedforge/discovery/internal/testserver"
)

func TestServesUntilSignalled(t *testing.T) {
	url := "inprocess://cmd-gateway"
	testserver.StartRPCX(t, url, "")
	ctx, stop := context.WithCancel(context.Background())
	var out, errs proctest.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--registry", url, "--listen", "127.0.0.1:0",
			"--service", "Arith:selector=roundrobin,idempotent=true,timeout=3s"}, &out, &errs)
	}()
	var addr string
	coretest.Poll(t, 20*time.Second, "the gateway's address on stdout", func() error {
		m := regexp.MustCompile(`gateway on http://(\S+)`).FindStringSubmatch(out.String())
		if m == nil {
			return fmt.Errorf("stdout %q, stderr %q", out.String(), errs.String())
		}
		addr = m[1]
		return nil
	})
	coretest.Poll(t, 20*time.Second, "Arith.Mul through the gateway", func() error {
		res, err := http.Post("http://"+addr+"/Arith/Mul", "application/json", strings.NewReader(`{"A":7,"B":6}`))
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !bytes.Contains(b, []byte(`"C":42`)) {
			return fmt.Errorf("%d %s", res.StatusCode, b)
		}
		return nil
	})
	res, err := http.Get("http://" + addr + "/ui")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET /ui = %d", res.StatusCode)
	}
	stop()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after the signal; stderr: %s", code, errs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not stop after the signal")
	}
}

func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		text string
	}{
		{nil, "missing --registry"},
		{[]string{"--registry", "inprocess://x", "extra"}, "unexpected argument"},
		{[]string{"--registry", "inprocess://x", "--service", "Arith:color=red"}, `unknown key "color"`},
		{[]string{"--registry", "inprocess://x", "--service", "Arith:retries=many"}, "retries"},
		{[]string{"--registry", "inprocess://x", "--fail", "sometimes"}, "unknown fail mode"},
		{[]string{"--registry", "inprocess://x", "--selector", "fastest"}, "unknown selector"},
		{[]string{"--registry", "nope://x"}, "unknown scheme"},
		{[]string{"--registry", "inprocess://x", "--listen", "0.0.0.0:0"}, "DISCOVERY_UI_TOKEN"},
		{[]string{"--registry", "etcd://user:s3cret@127.0.0.1:1/x?ttl=bogus"}, ""},
	} {
		var out, errs bytes.Buffer
		code := run(context.Background(), c.args, &out, &errs)
		if code != 2 || !strings.Contains(errs.String(), c.text) || strings.Contains(errs.String(), "s3cret") {
			t.Errorf("gateway %q = exit %d, stderr %q; want exit 2 naming %q, no secret", c.args, code, errs.String(), c.text)
		}
	}
}
