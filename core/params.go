package core

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Params hands out URL query parameters and remembers which ones were read,
// so that a misspelt option is an error instead of being silently ignored.
type Params struct {
	values map[string][]string
	read   map[string]bool
}

// NewParams wraps a parsed query.
func NewParams(q map[string][]string) *Params {
	return &Params{values: q, read: map[string]bool{}}
}

// String returns the value of key, or def when it is absent.
func (p *Params) String(key, def string) string {
	p.read[key] = true
	if v, ok := p.values[key]; ok && len(v) > 0 {
		return v[0]
	}
	return def
}

// Has reports whether key was given, and marks it read.
func (p *Params) Has(key string) bool {
	p.read[key] = true
	_, ok := p.values[key]
	return ok
}

// Duration parses a Go duration ("10s"); it must be positive.
func (p *Params) Duration(key string, def time.Duration) (time.Duration, error) {
	s := p.String(key, "")
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errorf("option %s=%q is not a duration; write it like %s=10s", key, s, key)
	}
	if d <= 0 {
		return 0, errorf("option %s=%s must be positive, e.g. %s=10s", key, s, key)
	}
	return d, nil
}

// Bool parses true/false/1/0.
func (p *Params) Bool(key string, def bool) (bool, error) {
	s := p.String(key, "")
	if s == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, errorf("option %s=%q must be true or false", key, s)
	}
	return b, nil
}

// Fraction parses a number in [0, 1).
func (p *Params) Fraction(key string, def float64) (float64, error) {
	s := p.String(key, "")
	if s == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f >= 1 || f != f {
		return 0, errorf("option %s=%q must be a fraction in [0, 1), e.g. %s=0.5", key, s, key)
	}
	return f, nil
}

// Int parses a non-negative integer.
func (p *Params) Int(key string, def int) (int, error) {
	s := p.String(key, "")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errorf("option %s=%q must be a whole number >= 0", key, s)
	}
	return n, nil
}

// Unread returns an error naming every given parameter nobody read, with the
// list of those that are understood.
func (p *Params) Unread() error {
	var unknown []string
	for k := range p.values {
		if !p.read[k] {
			if !isOptionName(k) {
				k = redacted // may be a piece of a mistyped secret
			}
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	var known []string
	for k := range p.read {
		known = append(known, k)
	}
	slices.Sort(known)
	return errorf("unknown option(s) %s; known options: %s", strings.Join(unknown, ", "), strings.Join(known, ", "))
}
