package core

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
)

// Redaction, one implementation for core, every backend, the CLI and every
// log line. It fails closed: what it cannot tell apart from a secret it hides.
//
//   - User information is everything before the last '@' that is followed by
//     a host list (the authority up to the next '/' or '?'), so a password may
//     hold '/', '?', '#', '@' or '%' as users write it (etcd://root:pa/ss@h/x).
//     Schemes whose authority is a list of rpcx addresses (multi, p2p:
//     tcp@h1:1,tcp@h2:2) have no user information.
//   - The password is always hidden, the user name too when the backend
//     takes it as a token (consul) or the scheme is unknown.
//   - Option values are shown only for the options known to hold no secret
//     (publicOption); every other value, misspelt ones included, is hidden.
//   - Logs and errors that may quote a secret outside a URL are scrubbed of
//     every secret URLSecrets finds (RedactHandler, RedactError).

// policyOptions are the options every backend shares (discovery.Open reads
// them); none holds a secret. A backend's own options are shown when it
// declares them (Backend.Options) and not as secret (Backend.SecretOptions);
// any other option, misspelt ones included, is shown as name=xxxxx.
var policyOptions = map[string]bool{
	"ttl": true, "interval": true, "deregister_timeout": true, "group": true, "version": true,
	"self_preservation": true, "self_preservation_hold": true,
}

// publicOption reports whether the value of option k of scheme may be shown.
func publicOption(scheme, k string) bool {
	if policyOptions[k] {
		return true
	}
	b, ok := LookupBackend(scheme)
	return ok && slices.Contains(b.Options, k) && !slices.Contains(b.SecretOptions, k)
}

const redacted = "xxxxx"

// urlParts is a registry URL split the way ParseTarget and redaction agree on.
type urlParts struct {
	scheme    string
	hasScheme bool
	userinfo  string // raw, before the user information's '@'
	hasUser   bool
	rest      string // hosts and path, after the user information
	query     string
	hasQuery  bool
}

func splitURL(s string) urlParts {
	var u urlParts
	rest := s
	if scheme, r, ok := strings.Cut(s, "://"); ok {
		u.scheme, u.hasScheme, rest = strings.ToLower(scheme), true, r
	}
	if b, ok := LookupBackend(u.scheme); !ok || !b.AddressList {
		if at := userinfoEnd(rest); at >= 0 {
			u.userinfo, u.hasUser, rest = rest[:at], true, rest[at+1:]
		}
	}
	u.rest, u.query, u.hasQuery = strings.Cut(rest, "?")
	return u
}

// userinfoEnd returns the index of the '@' ending the user information in
// s (everything after "scheme://"), or -1: the last '@' followed by what can
// be a host list, up to the next '/' or '?'.
func userinfoEnd(s string) int {
	for end := len(s); ; {
		at := strings.LastIndexByte(s[:end], '@')
		if at < 0 {
			return -1
		}
		hosts := s[at+1:]
		if i := strings.IndexAny(hosts, "/?"); i >= 0 {
			hosts = hosts[:i]
		}
		if isHostList(hosts) {
			return at
		}
		end = at
	}
}

func isHostList(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".-_:[],% ", c) >= 0) {
			return false
		}
	}
	return true
}

// splitUserinfo decodes "name[:password]"; an invalid escape is taken
// literally (users are told to percent-encode, but a literal '%' must work).
func splitUserinfo(userinfo string) (name, pass string, hasPass bool) {
	name, pass, hasPass = strings.Cut(userinfo, ":")
	unescape := func(s string) string {
		if d, err := url.PathUnescape(s); err == nil {
			return d
		}
		return s
	}
	return unescape(name), unescape(pass), hasPass
}

// userIsSecret reports whether scheme's URL user name is hidden too.
func userIsSecret(scheme string) bool {
	b, ok := LookupBackend(scheme)
	return !ok || b.SecretUser
}

// Redact returns rawURL with its password, a secret user name and the values
// of options not known to be public replaced by xxxxx, for errors and logs.
// It accepts any text, URL or not ("root:pw@h:2379" with the scheme forgotten).
func Redact(rawURL string) string {
	u := splitURL(rawURL)
	var b strings.Builder
	if u.hasScheme {
		b.WriteString(u.scheme + "://")
	}
	if u.hasUser {
		name, _, hasPass := splitUserinfo(u.userinfo)
		switch {
		case !u.hasScheme || userIsSecret(u.scheme) || strings.ContainsAny(name, "/?#@%") && hasPass:
			b.WriteString(redacted)
		case hasPass:
			b.WriteString(url.PathEscape(name) + ":" + redacted)
		default:
			b.WriteString(url.PathEscape(name))
		}
		b.WriteByte('@')
	}
	b.WriteString(u.rest)
	if u.hasQuery {
		b.WriteString("?" + redactQuery(u.scheme, u.query))
	}
	return b.String()
}

func redactQuery(scheme, query string) string {
	q, err := url.ParseQuery(query)
	if err != nil {
		return redacted
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range q {
			if !yield(k) {
				return
			}
		}
	})
	var parts []string
	for _, k := range keys {
		name := k
		public := publicOption(scheme, k)
		if !isOptionName(k) || !public && valueless(q[k]) {
			name = redacted // may be a secret pasted without a name
		}
		for _, v := range q[k] {
			if !public {
				v = redacted
			}
			parts = append(parts, url.QueryEscape(name)+"="+url.QueryEscape(v))
		}
	}
	return strings.Join(parts, "&")
}

// valueless reports whether an option was given without any value
// ("?hunter2"): its name may well be a secret.
func valueless(vs []string) bool {
	for _, v := range vs {
		if v != "" {
			return false
		}
	}
	return true
}

// isOptionName reports whether k looks like an option name, which is safe to
// echo; anything else may be a piece of a secret the user mistyped.
func isOptionName(k string) bool {
	if k == "" || len(k) > 40 {
		return false
	}
	for _, c := range []byte(k) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// URLSecrets returns the secrets of rawURL, in every form they may be
// quoted in (as written, decoded, escaped): the password, a secret user name
// and the values of options not known to be public. Scrub hides them.
func URLSecrets(rawURL string) []string {
	var out []string
	add := func(s string) {
		for _, f := range []string{s, url.PathEscape(s), url.QueryEscape(s)} {
			if f != "" && !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	u := splitURL(rawURL)
	if u.hasUser {
		rawName, rawPass, hasPass := strings.Cut(u.userinfo, ":")
		name, pass, _ := splitUserinfo(u.userinfo)
		if hasPass {
			add(rawPass)
			add(pass)
		}
		if !u.hasScheme || userIsSecret(u.scheme) {
			add(rawName)
			add(name)
		}
		if !u.hasScheme || !hasPass && userIsSecret(u.scheme) {
			add(u.userinfo)
		}
	}
	if u.hasQuery {
		for pair := range strings.SplitSeq(u.query, "&") {
			k, v, _ := strings.Cut(pair, "=")
			dk, _ := url.QueryUnescape(k)
			if publicOption(u.scheme, dk) {
				continue
			}
			add(v)
			if d, err := url.QueryUnescape(v); err == nil {
				add(d)
			}
			if !isOptionName(dk) || v == "" {
				add(k)
				add(dk)
			}
		}
	}
	// Longest first, so a secret is never half-replaced by a shorter one.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// Scrub replaces every secret in s by xxxxx.
func Scrub(s string, secrets []string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, redacted)
		}
	}
	return s
}

// errorText is err's text for a status: the secrets scrubbed, every URL
// in it redacted, bounded in size.
func errorText(err error, secrets []string) string {
	words := strings.Fields(Scrub(err.Error(), secrets))
	for i, w := range words {
		if strings.Contains(w, "://") {
			trimmed := strings.Trim(w, `"'()[],;`)
			words[i] = strings.Replace(w, trimmed, Redact(trimmed), 1)
		}
	}
	return bounded(strings.Join(words, " "))
}

// RedactError returns err with the secrets scrubbed from its text; errors.Is
// and errors.As still see the original chain.
func RedactError(err error, secrets []string) error {
	if err == nil || len(secrets) == 0 {
		return err
	}
	msg := err.Error()
	if clean := Scrub(msg, secrets); clean != msg {
		return &redactedError{msg: clean, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// RedactLogger returns a logger that scrubs secrets from the message and
// every attribute of each record before l's handler sees it.
func RedactLogger(l *slog.Logger, secrets []string) *slog.Logger {
	if len(secrets) == 0 {
		return l
	}
	if h, ok := l.Handler().(*redactHandler); ok && slices.Equal(h.secrets, secrets) {
		return l
	}
	return slog.New(&redactHandler{next: l.Handler(), secrets: secrets})
}

type redactHandler struct {
	next    slog.Handler
	secrets []string
}

func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *redactHandler) Handle(ctx context.Context, r slog.Record) error {
	clean := slog.NewRecord(r.Time, r.Level, Scrub(r.Message, h.secrets), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		clean.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, clean)
}

func (h *redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = h.attr(a)
	}
	return &redactHandler{next: h.next.WithAttrs(clean), secrets: h.secrets}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{next: h.next.WithGroup(name), secrets: h.secrets}
}

func (h *redactHandler) attr(a slog.Attr) slog.Attr {
	a.Key = Scrub(a.Key, h.secrets)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		g := v.Group()
		clean := make([]any, len(g))
		for i, ga := range g {
			clean[i] = h.attr(ga)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindString:
		return slog.String(a.Key, Scrub(v.String(), h.secrets))
	case slog.KindAny:
		s := fmt.Sprint(v.Any())
		if clean := Scrub(s, h.secrets); clean != s {
			return slog.String(a.Key, clean)
		}
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, err.Error()) // as the handler would print it
		}
	}
	a.Value = v
	return a
}
