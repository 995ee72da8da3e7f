package core

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Params hands out URL query parameters and remembers which ones were read,
// so that a misspelt option is an error instead of being silently ignored.
type Params struct {
	values     map[string][]string
	read       map[string]bool
	declared   map[string]bool // nil: the backend declared nothing
	undeclared []string        // read although not declared: a backend bug
}

// NewParams wraps a parsed query.
func NewParams(q map[string][]string) *Params {
	return &Params{values: q, read: map[string]bool{}}
}

// String returns the value of key, or def when it is absent.
func (p *Params) String(key, def string) string {
	p.markRead(key)
	if v, ok := p.values[key]; ok && len(v) > 0 {
		return v[0]
	}
	return def
}

// Has reports whether key was given, and marks it read.
func (p *Params) Has(key string) bool {
	p.markRead(key)
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

// DurationIn is Duration within [lo, hi]; why names whose rule it is, for
// the error ("ZooKeeper servers clamp it to …").
func (p *Params) DurationIn(key string, def, lo, hi time.Duration, why string) (time.Duration, error) {
	d, err := p.Duration(key, def)
	if err != nil || d == def {
		return d, err
	}
	if d < lo || d > hi {
		return 0, errorf("option %s=%s is out of range: it must be between %v and %v (%s)", key, p.values[key][0], lo, hi, why)
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

func (p *Params) markRead(key string) {
	if p.declared != nil && !p.declared[key] && !p.read[key] {
		p.undeclared = append(p.undeclared, key)
	}
	p.read[key] = true
}

// Repeated returns an error naming the options given more than once: each
// takes one value, and keeping one would silently drop the other.
func (p *Params) Repeated() error {
	var twice []string
	for k, v := range p.values {
		if len(v) < 2 {
			continue
		}
		// Values only of options known to be public; names only if they
		// look like option names (either may be a mistyped secret).
		shown := fmt.Sprintf("%d times", len(v))
		if policyOptions[k] { // the scheme's own public options are not known here

			shown = strings.Join(v, ", ")
		}
		if !isOptionName(k) {
			k = redacted
		}
		twice = append(twice, fmt.Sprintf("%s (%s)", k, shown))
	}
	if len(twice) == 0 {
		return nil
	}
	slices.Sort(twice)
	return errorf("option(s) given more than once: %s; give each option once", strings.Join(twice, "; "))
}

// Declare names the options the caller will read besides those already
// read, so that Unknown can report a misspelt option before anything
// interprets the others (a typo then reads as a typo, not as the error the
// missing option causes). Reading an option not declared is a bug of the
// backend, reported by Unread.
func (p *Params) Declare(names ...string) {
	p.declared = map[string]bool{}
	for k := range p.read {
		p.declared[k] = true
	}
	for _, k := range names {
		p.declared[k] = true
	}
}

// Unknown returns an error naming every given option that is neither read
// nor declared, with the known ones; nil before Declare.
func (p *Params) Unknown() error {
	if p.declared == nil {
		return nil
	}
	return p.unknown(p.declared)
}

// Unread returns an error naming every given parameter nobody read, with the
// list of those that are understood.
func (p *Params) Unread() error {
	if len(p.undeclared) > 0 {
		slices.Sort(p.undeclared)
		return fmt.Errorf("discovery: the backend read option(s) %s without declaring them in core.Backend.Options (a bug of the backend)", strings.Join(p.undeclared, ", "))
	}
	return p.unknown(p.read)
}

func (p *Params) unknown(known map[string]bool) error {
	var unknown []string
	for k := range p.values {
		if !known[k] {
			if !isOptionName(k) || valueless(p.values[k]) {
				k = redacted // may be a piece of a mistyped secret
			}
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return errorf("unknown option(s) %s; known options: %s", strings.Join(unknown, ", "), strings.Join(slices.Sorted(maps.Keys(known)), ", "))
}
