package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/internal/proctest"
)

// secretTemplates place the secret S where users put secrets: user
// information (raw, as etcd/rpcx users write it), a token user name, and
// options, right or misspelt (percent-encoded, as the docs ask).
var secretTemplates = []string{
	"etcd://root:{S}@127.0.0.1:1/services",
	"etcd://root:{S}@127.0.0.1:1,127.0.0.1:2/services?ttl=1s",
	"zk://admin:{S}@127.0.0.1:1/rpcx?session_timeout=2s",
	"consul://{S}@127.0.0.1:1/x",
	"consul://127.0.0.1:1/x?token={Q}",
	"nosuch://root:{S}@127.0.0.1:1/x",
	"etcd://127.0.0.1:1/x?password={Q}",
	"etcd://127.0.0.1:1/x?passwd={Q}",
	"etcd://127.0.0.1:1/x?pasword={Q}&ttl=1s",
	"zk://127.0.0.1:1/x?tokn={Q}",
	"multi://tcp@127.0.0.1:1,tcp@127.0.0.1:2?secret={Q}",
	"inprocess://demo?auth={Q}",
	"root:{S}@127.0.0.1:1/x",
	"etcd://root:{S}@127.0.0.1:1/x?bogus={Q}",
}

func secretURL(template int, secret string) string {
	// One pass: text inserted is never replaced again.
	return strings.NewReplacer("{S}", secret, "{Q}", url.QueryEscape(secret)).Replace(secretTemplates[template%len(secretTemplates)])
}

// FuzzSecretsNeverShown feeds URLs holding random secrets through
// discovery.Open (its error, its logs, a Register's error, a Watch, and
// both statuses) and
// through the CLI (stdout, stderr, logs with --verbose), and fails when any
// form of the secret shows. The seed corpus runs as a normal test.
func FuzzSecretsNeverShown(f *testing.F) {
	for i := range secretTemplates {
		for _, s := range []string{"Sup3rSecretPW", "pa/ss?w0rd#x", "p@ss%w0rd@x", "pa?ss=1&ttl=2", "s3cr%41t/%zz", "Tok3n?user@host"} {
			f.Add(i, s)
		}
	}
	f.Fuzz(func(t *testing.T, template int, secret string) {
		if template < 0 || len(secret) < 8 || len(secret) > 64 || strings.ContainsAny(secret, "\x00\n\r\t ") || !strings.ContainsAny(secret, "0123456789") {
			t.Skip("not a secret this test can tell from other text")
		}
		raw := secretURL(template, secret)
		// The same run with an innocent placeholder: a "secret" that the
		// output holds anyway (a word of an error message) proves nothing.
		placeholder := placeholderExposures(t, template)
		for where, out := range exposures(t, raw) {
			for _, form := range secretForms(secret) {
				if strings.Contains(out, form) && !strings.Contains(placeholder[where], form) {
					t.Fatalf("%s shows the secret %q (as %q) of %s:\n%s", where, secret, form, raw, out)
				}
			}
		}
	})
}

var (
	placeholdersMu sync.Mutex
	placeholders   = map[int]map[string]string{}
)

// placeholderExposures is exposures of a template holding an innocent
// placeholder, computed once per template.
func placeholderExposures(t *testing.T, template int) map[string]string {
	template %= len(secretTemplates)
	placeholdersMu.Lock()
	defer placeholdersMu.Unlock()
	if p, ok := placeholders[template]; ok {
		return p
	}
	p := exposures(t, secretURL(template, "Pl4ceh0lderValue"))
	placeholders[template] = p
	return p
}

func secretForms(secret string) []string {
	forms := []string{secret, url.PathEscape(secret), url.QueryEscape(secret)}
	if d, err := url.PathUnescape(secret); err == nil && len(d) >= 6 {
		forms = append(forms, d)
	}
	return forms
}

// exposures returns everything a user can see of rawURL's handling.
func exposures(t *testing.T, rawURL string) map[string]string {
	out := map[string]string{"Redact": core.Redact(rawURL)}

	var logs proctest.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	c, err := discovery.OpenContext(ctx, rawURL, discovery.Config{Logger: logger, DeregisterTimeout: 100 * time.Millisecond})
	out["Open error"] = fmt.Sprint(err)
	if err == nil {
		err := c.Register(ctx, core.Instance{Service: "A", Addr: "tcp@127.0.0.1:9"})
		out["Register error"] = fmt.Sprint(err)
		out["Status"] = fmt.Sprint(c.Status())
		if ch, err := c.Watch(ctx, "A"); err == nil {
			select { // the first list, or the watch failing
			case <-ch:
			case <-ctx.Done():
			}
		}
		out["WatchStatus"] = fmt.Sprint(c.WatchStatus())
		c.Close()
	}
	out["Open logs"] = logs.String()

	prev := slog.Default()
	defer slog.SetDefault(prev) // the CLI installs its own
	var stdout, stderr proctest.Buffer
	cliCtx, cliCancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cliCancel()
	run(cliCtx, []string{"get", "--verbose", "--timeout", "150ms", rawURL, "A"}, &stdout, &stderr)
	out["CLI stdout"], out["CLI stderr"] = stdout.String(), stderr.String()
	return out
}
