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

// ParseTarget splits rawURL. It fails only on what no backend could use: no
// "scheme://" or an undecodable query.
func ParseTarget(rawURL string) (Target, error) {
	if strings.TrimSpace(rawURL) == "" {
		return Target{}, errorf("empty registry URL; write it like inprocess://demo or etcd://127.0.0.1:2379/services")
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok || scheme == "" {
		return Target{}, errorf("registry URL %q has no scheme://; write it like etcd://127.0.0.1:2379/services", redactText(rawURL))
	}
	t := Target{Scheme: strings.ToLower(scheme)}
	raw, query, _ := strings.Cut(rest, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return Target{}, errorf("registry URL %s: bad query string: %v", redactText(rawURL), err)
	}
	t.Raw, t.Query = raw, q
	authority, path := raw, ""
	if i := strings.IndexByte(raw, '/'); i >= 0 {
		authority, path = raw[:i], raw[i:]
	}
	t.Path = path
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo := authority[:i]
		authority = authority[i+1:]
		name, pass, hasPass := strings.Cut(userinfo, ":")
		name, _ = url.PathUnescape(name)
		pass, _ = url.PathUnescape(pass)
		if hasPass {
			t.User = url.UserPassword(name, pass)
		} else {
			t.User = url.User(name)
		}
	}
	for h := range strings.SplitSeq(authority, ",") {
		if h = strings.TrimSpace(h); h != "" {
			t.Hosts = append(t.Hosts, h)
		}
	}
	return t, nil
}

// redactText hides what looks like user information in an unparsed URL,
// with or without its scheme ("root:pw@h:2379" when "etcd://" was forgotten).
func redactText(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		scheme, rest = "", s
	}
	auth, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		auth, tail = rest[:i], rest[i:]
	}
	if i := strings.LastIndexByte(auth, '@'); i >= 0 && strings.Contains(auth[:i], ":") {
		auth = "xxxxx@" + auth[i+1:]
	}
	if scheme == "" {
		return auth + tail
	}
	return scheme + "://" + auth + tail
}
