package core

import (
	"log/slog"
	"net/url"
	"strings"
)

// Target is a backend URL split into its parts. URLs hold lists of hosts
// ("etcd://h1:2379,h2:2379/services") and rpcx addresses
// ("multi://tcp@h1:8972,tcp@h2:8972"), which net/url does not split right,
// so backends get both the parts and the raw text.
type Target struct {
	Scheme string
	// Raw is everything between "://" and "?".
	Raw string
	// User is the user information before the last '@' of the authority,
	// or nil. Only backends whose authority is host lists use it.
	User *url.Userinfo
	// Hosts is the authority after the user information, split at commas.
	Hosts []string
	// Path starts with '/' or is empty.
	Path  string
	Query url.Values
	// Logger is where the driver reports what it skips or its client logs:
	// the Client's logger, with the redacted URL attached. Set by
	// discovery.Open; nil means slog.Default().
	Logger *slog.Logger
}

// ParseTarget splits rawURL. The user information ends at the last '@'
// followed by a host list, so a password may hold '/', '?', '@' or '#'
// (redact.go says the rule); percent-encoding them is the safe form. It fails only on what no backend could use: no
// "scheme://" or an undecodable query.
func ParseTarget(rawURL string) (Target, error) {
	if strings.TrimSpace(rawURL) == "" {
		return Target{}, errorf("empty registry URL; write it like inprocess://demo or etcd://127.0.0.1:2379/services")
	}
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok || scheme == "" {
		return Target{}, errorf("registry URL %q has no scheme://; write it like etcd://127.0.0.1:2379/services", Redact(rawURL))
	}
	u := splitURL(rawURL)
	t := Target{Scheme: u.scheme, Raw: u.rest}
	if u.hasUser {
		// The user information may hold '?' or '/': see redact.go.
		t.Raw = u.userinfo + "@" + u.rest
		name, pass, hasPass := splitUserinfo(u.userinfo)
		if hasPass {
			t.User = url.UserPassword(name, pass)
		} else {
			t.User = url.User(name)
		}
	}
	q, err := url.ParseQuery(u.query)
	if err != nil {
		return Target{}, errorf("registry URL %s: bad query string (percent-encode '%%', '&' and '=' in values)", Redact(rawURL))
	}
	t.Query = q
	authority := u.rest
	if i := strings.IndexByte(authority, '/'); i >= 0 {
		authority, t.Path = authority[:i], authority[i:]
	}
	for h := range strings.SplitSeq(authority, ",") {
		if h = strings.TrimSpace(h); h != "" {
			t.Hosts = append(t.Hosts, h)
		}
	}
	return t, nil
}
