package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/dashboard"
	"github.com/seedforge/discovery/internal/testserver"
	"github.com/seedforge/discovery/selector"
)

var seq atomic.Int64

func open(t testing.TB, url string) *discovery.Client { return testserver.Open(t, url) }

// serve serves a dashboard on an httptest server until the test ends.
func serve(t *testing.T, cfg dashboard.Config) *httptest.Server {
	t.Helper()
	h, err := dashboard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close() // ends the event streams, which the server's Close waits for
		hs.Close()
	})
	return hs
}

// browser starts Debian's headless Chromium, driven through the DevTools
// protocol by chromedp, with a fresh profile; it ends with the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("the dashboard tests drive a real browser: apt-get install -y chromium (scripts/test.sh does)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 720),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // stops the browser process
	})
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil { // starts it
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// rows returns the addresses the page lists for service, with their state.
func rows(t *testing.T, ctx context.Context, service string) map[string]string {
	t.Helper()
	js := fmt.Sprintf(`Object.fromEntries([...document.querySelectorAll('div.service[data-service=%q] tr[data-addr]')]
		.map(r => [r.dataset.addr, r.querySelector('td.state').textContent]))`, service)
	got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](js))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// waitPage polls the page until ok says its rows are right.
func waitPage(t *testing.T, ctx context.Context, service, what string, ok func(map[string]string) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := rows(t, ctx, service)
		if ok(got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("page never showed %s; it shows %v", what, got)
		}
		time.Sleep(50 * time.Millisecond) // polling the page; the deadline decides
	}
}

func TestPageInBrowser(t *testing.T) {
	ctx := browser(t)
	url := fmt.Sprintf("inprocess://dashboard-%d", seq.Add(1))
	a := testserver.StartRPCX(t, url, "group=blue&version=2")
	client := open(t, url)
	operator := open(t, url)
	hs := serve(t, dashboard.Config{Discovery: client, Services: []string{"Arith"}, Token: "s3cret", Poll: 200 * time.Millisecond,
		Drain: func(ctx context.Context, service, addr string, drained bool) error {
			if drained {
				return operator.Drain(ctx, service, addr)
			}
			return operator.Undrain(ctx, service, addr)
		}})
	// Without the token: refused.
	res, err := http.Get(hs.URL + "/ui")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /ui without a token = %d", res.StatusCode)
	}

	if _, err := chromedp.Run(ctx, chromedp.Navigate(hs.URL+"/ui?token=s3cret")); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "Arith", "the registered server", func(r map[string]string) bool { return r[a.Addr] == "active" })

	b := testserver.StartRPCX(t, url, "weight=3")
	waitPage(t, ctx, "Arith", "the server that joined", func(r map[string]string) bool { return len(r) == 2 && r[b.Addr] == "active" })

	// The drain button of a: the page shows it inactive, and a client's
	// selector, fed by the watch, stops picking it.
	sel := selector.NewRoundRobin()
	if err := selector.Follow(t.Context(), open(t, url), "Arith", sel); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Click(fmt.Sprintf(`tr[data-addr=%q] button.drain`, a.Addr))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "Arith", "the drained server", func(r map[string]string) bool { return r[a.Addr] == "inactive" })
	coretest.Poll(t, 20*time.Second, "the client no longer picking the drained server", func() error {
		for range 10 {
			if p, err := sel.Select(""); err != nil || p.Instance.Addr == a.Addr {
				return fmt.Errorf("picked %v (%v)", p.Instance.Addr, err)
			}
		}
		return nil
	})

	// Published tps values are shown and plotted as they change. Load is
	// not configured: the page finds it by enumerating the registry.
	loaded := open(t, url)
	for _, tps := range []string{"12.5", "30", "22", "41.5"} {
		inst := core.Instance{Service: "Load", Addr: "tcp@127.0.0.1:7", Meta: core.Metadata{core.MetaTPS: tps, core.MetaProtocol: core.ProtocolGRPC}}
		if err := loaded.Register(t.Context(), inst); err != nil {
			t.Fatal(err)
		}
		coretest.Poll(t, 20*time.Second, "tps "+tps+" on the page", func() error {
			got, err := chromedp.Run(ctx, chromedp.Text(`div.service[data-service="Load"] td.tpsv`))
			if err != nil || got != tps && got != tps+".0" {
				return fmt.Errorf("page shows %q (%v)", got, err)
			}
			return nil
		})
	}

	coretest.Poll(t, 20*time.Second, "core's watch state on the page", func() error {
		got, err := chromedp.Run(ctx, chromedp.Text(`div.service[data-service="Arith"] h2 small`))
		if err != nil || !strings.Contains(got, "watch healthy") {
			return fmt.Errorf("page shows %q (%v)", got, err)
		}
		return nil
	})

	if path := os.Getenv("DASHBOARD_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := chromedp.Run(ctx, chromedp.Click(fmt.Sprintf(`tr[data-addr=%q] button.undrain`, a.Addr))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "Arith", "the undrained server", func(r map[string]string) bool { return r[a.Addr] == "active" })
	b.Stop()
	waitPage(t, ctx, "Arith", "the server that left gone", func(r map[string]string) bool { _, there := r[b.Addr]; return len(r) == 1 && !there })

	log, err := chromedp.Run(ctx, chromedp.Text("#log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, "joined: Arith "+b.Addr) || !strings.Contains(log, "left: Arith "+b.Addr) {
		t.Fatalf("the page's log of joins and leaves: %q", log)
	}
}
