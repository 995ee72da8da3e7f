package selector

import (
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		opts    []Option
		wantErr string // substring; "" for success
	}{
		{"random", nil, ""},
		{"roundrobin", nil, ""},
		{"weighted", nil, ""},
		{"consistenthash", nil, ""},
		{"p2c", nil, ""},
		{"leasttps", nil, ""},
		{"RoundRobin", nil, ""},
		{"random", []Option{WithLocation(1, 2)}, ""},
		{"closest", []Option{WithLocation(48.8, 2.3)}, ""},
		{"closest", nil, "pass selector.WithLocation(lat, lon)"},
		{"closest", []Option{WithLocation(100, 0)}, "latitude must be within"},
		{"fastest", nil, "use one of random, roundrobin, weighted, consistenthash, p2c, leasttps, closest"},
		{"", nil, "unknown selector"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.name, tc.opts...)
			if tc.wantErr == "" {
				if err != nil || s == nil {
					t.Fatalf("New(%q) = %v, %v", tc.name, s, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New(%q): err = %v, want it to contain %q", tc.name, err, tc.wantErr)
			}
		})
	}
}

func TestNewByNameMatchesConstructors(t *testing.T) {
	for _, c := range constructors {
		s, err := New(c.name, WithLocation(48.85, 2.35))
		if err != nil {
			t.Fatalf("New(%q): %v", c.name, err)
		}
		if got, want := typeName(s), typeName(c.new()); got != want {
			t.Errorf("New(%q) is %s, constructor gives %s", c.name, got, want)
		}
	}
}

func typeName(s Selector) string {
	switch s.(type) {
	case *random:
		return "random"
	case *roundRobin:
		return "roundrobin"
	case *weighted:
		return "weighted"
	case *consistentHash:
		return "consistenthash"
	case *p2c:
		return "p2c"
	case *leastTPS:
		return "leasttps"
	case *closest:
		return "closest"
	}
	return "?"
}
