package core_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	_ "github.com/seedforge/discovery/backend/multi" // AddressList scheme
	"github.com/seedforge/discovery/core"
)

// Passwords hold what users put in them, unencoded: the user information
// ends at the last '@' before the host list (issue 10 §3).
func TestRedactPasswordsWithURLCharacters(t *testing.T) {
	if _, ok := core.LookupBackend("userpass-test"); !ok { // once per process: -count=N reruns
		core.RegisterBackend(core.Backend{Scheme: "userpass-test", Open: func(context.Context, core.Target, *core.Params) (core.Driver, error) { return nil, nil }})
	}
	for _, pass := range []string{"pa/ss", "pa?ss", "pa#ss", "p@ss", "pa%ss", "pa%2Fss", "a/b?c#d@e%f"} {
		raw := "userpass-test://root:" + pass + "@h:2379/x?ttl=10s"
		tg, err := core.ParseTarget(raw)
		if err != nil {
			t.Errorf("ParseTarget(%q): %v", raw, err)
			continue
		}
		got, _ := tg.User.Password()
		if want := decoded(pass); got != want || tg.User.Username() != "root" || !slices.Equal(tg.Hosts, []string{"h:2379"}) ||
			tg.Path != "/x" || tg.Query.Get("ttl") != "10s" || len(tg.Query) != 1 {
			t.Errorf("ParseTarget(%q) = user %q pass %q hosts %v path %q query %v", raw, tg.User.Username(), got, tg.Hosts, tg.Path, tg.Query)
		}
		// An unknown scheme's user name may be a token: hidden too.
		if out := core.Redact(strings.Replace(raw, "userpass-test", "etcd", 1)); out != "etcd://xxxxx@h:2379/x?ttl=10s" {
			t.Errorf("Redact(%q) = %q", raw, out)
		}
		if out := core.Redact(raw); strings.Contains(out, pass) || strings.Contains(out, got) || out != "userpass-test://root:xxxxx@h:2379/x?ttl=10s" {
			t.Errorf("Redact(%q) = %q", raw, out)
		}
	}
}

func decoded(pass string) string {
	if pass == "pa%2Fss" {
		return "pa/ss"
	}
	return pass // invalid escapes are taken literally
}

func TestRedactOptionsFailClosed(t *testing.T) {
	if _, ok := core.LookupBackend("opts-test"); !ok { // once per process: -count=N reruns
		core.RegisterBackend(core.Backend{Scheme: "opts-test", Options: []string{"mode", "key"}, SecretOptions: []string{"key"},
			Open: func(context.Context, core.Target, *core.Params) (core.Driver, error) { return nil, nil }})
	}
	cases := map[string]string{
		// misspelt secret options, and any unknown option, lose their value
		"etcd://h:2379/x?passwd=hunter22":               "etcd://h:2379/x?passwd=xxxxx",
		"etcd://h:2379/x?pasword=hunter22&ttl=5s":       "etcd://h:2379/x?pasword=xxxxx&ttl=5s",
		"opts-test://h:8500?tokn=hunter22&mode=kv":      "opts-test://h:8500?mode=kv&tokn=xxxxx",
		"opts-test://h:8500?key=hunter22":               "opts-test://h:8500?key=xxxxx",
		"unknownscheme://h:8500?mode=kv":                "unknownscheme://h:8500?mode=xxxxx",
		"etcd://h:2379/x?bogus=hunter22":                "etcd://h:2379/x?bogus=xxxxx",
		"etcd://h:2379/x?hunter22":                      "etcd://h:2379/x?xxxxx=xxxxx",
		"etcd://h:2379/x?%zzhunter22":                   "etcd://h:2379/x?xxxxx",
		"multi://tcp@h1:1,tcp@h2:2":                     "multi://tcp@h1:1,tcp@h2:2",
		"multi://tcp@h1:1,tcp@h2:2?group=a":             "multi://tcp@h1:1,tcp@h2:2?group=a",
		"unknownscheme://tok3n-hunter22@h:1/x":          "unknownscheme://xxxxx@h:1/x",
		"root:hunter22@h:2379/x":                        "xxxxx@h:2379/x",
		"etcd://root:hunter22@h:2379/a?token=x%40y@z:1": "etcd://xxxxx@z:1",
	}
	for in, want := range cases {
		if got := core.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
		if got := core.Redact(in); strings.Contains(got, "hunter22") {
			t.Errorf("Redact(%q) = %q shows the secret", in, got)
		}
	}
	m, err := core.ParseTarget("multi://tcp@h1:1,tcp@h2:2")
	if err != nil || m.User != nil || !slices.Equal(m.Hosts, []string{"tcp@h1:1", "tcp@h2:2"}) {
		t.Fatalf("multi target %+v, %v", m, err)
	}
}

// The unknown-option error names the option, never its value, and hides
// a name that cannot be one (a piece of a mistyped secret).
func TestUnknownOptionErrorHidesValues(t *testing.T) {
	p := core.NewParams(map[string][]string{"passwd": {"hunter22"}, "ss@h:2379/x": {""}})
	err := p.Unread()
	if err == nil || strings.Contains(err.Error(), "hunter22") || strings.Contains(err.Error(), "ss@h") || !strings.Contains(err.Error(), "passwd") {
		t.Fatalf("Unread = %v", err)
	}
}

func TestURLSecretsAndScrub(t *testing.T) {
	raw := "etcd://root:pa%2Fss@h:2379/x?passwd=hunter22"
	secrets := core.URLSecrets(raw)
	for _, s := range []string{"pa%2Fss", "pa/ss", "hunter22"} {
		if !slices.Contains(secrets, s) {
			t.Errorf("URLSecrets(%q) = %q lacks %q", raw, secrets, s)
		}
	}
	if got := core.Scrub("login pa/ss failed, hunter22", secrets); got != "login xxxxx failed, xxxxx" {
		t.Errorf("Scrub = %q", got)
	}
}
