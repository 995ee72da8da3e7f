package dashboard_test

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seedforge/discovery/dashboard"
	"github.com/seedforge/discovery/internal/leaktest"
	"github.com/seedforge/discovery/internal/testserver"
)

func TestTokenGuardsEverything(t *testing.T) {
	leaktest.Check(t)
	url := fmt.Sprintf("inprocess://dashboard-%d", seq.Add(1))
	hs := serve(t, dashboard.Config{Discovery: open(t, url), Services: []string{"Arith"}, Token: "tok"})
	get := func(path string, hdr ...string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, hs.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	for _, p := range []string{"/ui", "/ui/app.js", "/ui/events", "/ui/api/state", "/ui?token=wrong"} {
		if res := get(p); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without the token = %d", p, res.StatusCode)
		}
	}
	res, err := http.Post(hs.URL+"/ui/api/drain", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("drain without the token = %d", res.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, hs.URL+"/ui/api/drain", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Origin", "http://elsewhere.example")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("drain from another page's origin: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	if res := get("/ui/api/state", "Authorization", "Bearer tok"); res.StatusCode != 200 {
		t.Errorf("with the bearer token = %d", res.StatusCode)
	}
	res = get("/ui?token=tok")
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		cookie = c
	}
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui" || cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("GET /ui?token= = %d to %q, cookie %+v", res.StatusCode, res.Header.Get("Location"), cookie)
	}
	if res := get("/ui/app.js", "Cookie", cookie.Name+"="+cookie.Value); res.StatusCode != 200 {
		t.Errorf("with the cookie = %d", res.StatusCode)
	}
}

// The event stream sends the state at once and again when an instance joins.
func TestEventsFollowTheWatch(t *testing.T) {
	url := fmt.Sprintf("inprocess://dashboard-%d", seq.Add(1))
	hs := serve(t, dashboard.Config{Discovery: open(t, url), Services: []string{"Arith"}})
	res, err := http.Get(hs.URL + "/ui/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	s := testserver.StartRPCX(t, url, "")
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l := <-lines:
			if strings.Contains(l, `"addr":"`+s.Addr+`"`) {
				return
			}
		case <-deadline:
			t.Fatal("no event listed the server that joined")
		}
	}
}

func TestCheckExposure(t *testing.T) {
	for _, c := range []struct {
		listen, token string
		ok            bool
	}{
		{"127.0.0.1:8080", "", true}, {"[::1]:8080", "", true}, {"localhost:8080", "", true},
		{"0.0.0.0:8080", "", false}, {":8080", "", false}, {"10.0.0.5:8080", "", false},
		{"0.0.0.0:8080", "tok", true},
	} {
		if err := dashboard.CheckExposure(c.listen, c.token); (err == nil) != c.ok {
			t.Errorf("CheckExposure(%q, token %v) = %v", c.listen, c.token != "", err)
		}
	}
}
