package core

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParamsRepeated(t *testing.T) {
	p := NewParams(map[string][]string{"group": {"x", "y"}, "ttl": {"1s"}, "token": {"s3cret1", "s3cret2"}})
	err := p.Repeated()
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "group (x, y)") || strings.Contains(err.Error(), "ttl") ||
		!strings.Contains(err.Error(), "token (2 times)") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Repeated = %v", err)
	}
	if err := NewParams(map[string][]string{"ttl": {"1s"}}).Repeated(); err != nil {
		t.Fatalf("single values: %v", err)
	}
}

// A misspelt option is reported before the opener interprets the others,
// whatever error its absence would cause.
func TestParamsDeclaredUnknownFirst(t *testing.T) {
	p := NewParams(map[string][]string{"mod": {"kv"}, "ttl": {"1s"}})
	p.String("ttl", "")
	p.Declare("mode", "dc")
	err := p.Unknown()
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "unknown option(s) mod; known options: dc, mode, ttl") {
		t.Fatalf("Unknown = %v", err)
	}
	// Reading an option the backend did not declare is its bug, reported.
	p = NewParams(map[string][]string{"mode": {"kv"}})
	p.Declare("mode")
	p.String("mode", "")
	p.String("wait", "")
	if err := p.Unread(); err == nil || !strings.Contains(err.Error(), "read option(s) wait without declaring") {
		t.Fatalf("Unread after an undeclared read = %v", err)
	}
	// Without Declare, Unknown says nothing and Unread does the job.
	p = NewParams(map[string][]string{"x": {"1"}})
	if err := p.Unknown(); err != nil {
		t.Fatalf("Unknown without Declare = %v", err)
	}
	if err := p.Unread(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Unread = %v", err)
	}
}

func TestParamsDurationIn(t *testing.T) {
	p := NewParams(map[string][]string{"session_timeout": {"1h"}, "ok": {"3s"}})
	_, err := p.DurationIn("session_timeout", 10*time.Second, time.Second, 5*time.Minute, "servers clamp it")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "session_timeout=1h is out of range: it must be between 1s and 5m0s (servers clamp it)") {
		t.Fatalf("DurationIn = %v", err)
	}
	if d, err := p.DurationIn("ok", 10*time.Second, time.Second, 5*time.Minute, ""); err != nil || d != 3*time.Second {
		t.Fatalf("DurationIn in range = %v, %v", d, err)
	}
	if d, err := p.DurationIn("absent", 10*time.Second, time.Second, 5*time.Minute, ""); err != nil || d != 10*time.Second {
		t.Fatalf("DurationIn absent = %v, %v", d, err)
	}
}
