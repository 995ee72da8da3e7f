package core

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestMetadataWireFormat(t *testing.T) {
	// rpcx writes its registry values with url.Values.Encode.
	m, err := ParseMetadata("weight=2&group=blue&state=inactive&tps=12.5&x-custom=a%20b")
	if err != nil {
		t.Fatal(err)
	}
	if m.Weight() != 2 || m[MetaGroup] != "blue" || !m.Inactive() || m["x-custom"] != "a b" {
		t.Fatalf("%v", m)
	}
	if tps, ok := m.TPS(); !ok || tps != 12.5 {
		t.Fatalf("tps %v %v", tps, ok)
	}
	if got := m.Encode(); got != "group=blue&state=inactive&tps=12.5&weight=2&x-custom=a+b" {
		t.Fatalf("Encode = %q", got)
	}
	if _, err := ParseMetadata("a=%zz"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("garbage accepted: %v", err)
	}
	empty, err := ParseMetadata("")
	if err != nil || len(empty) != 0 {
		t.Fatalf("empty value: %v %v", empty, err)
	}
}

func TestWeightRules(t *testing.T) {
	for in, want := range map[string]int{"": 1, "3": 3, "0": 0, "-4": 0, "abc": 1, "1.5": 1} {
		m := Metadata{}
		if in != "" {
			m[MetaWeight] = in
		}
		if got := m.Weight(); got != want {
			t.Errorf("weight %q -> %d, want %d", in, got, want)
		}
	}
	if _, _, ok := (Metadata{MetaLatitude: "91", MetaLongitude: "0"}).Coordinates(); ok {
		t.Error("latitude 91 accepted")
	}
	if _, ok := (Metadata{MetaTPS: "NaN"}).TPS(); ok {
		t.Error("NaN tps accepted")
	}
}

func TestValidate(t *testing.T) {
	good := []Instance{
		{Service: "Arith", Addr: "tcp@10.0.0.1:8972"},
		{Service: "Arith", Addr: "unix@/tmp/s.sock"},
		{Service: "a.b-c_d", Addr: "quic@[::1]:8972"},
		{Service: "Arith", Addr: "tcp@:8972"},
		{Service: "Arith", Addr: "tcp@[fe80::1%eth0]:1"},
	}
	for _, i := range good {
		if err := i.Validate(); err != nil {
			t.Errorf("%+v: %v", i, err)
		}
	}
	bad := []struct {
		i    Instance
		want string
	}{
		{Instance{Service: "", Addr: "tcp@h:1"}, "missing service"},
		{Instance{Service: "a/b", Addr: "tcp@h:1"}, "must not contain"},
		{Instance{Service: "A", Addr: "h:1"}, "no network@ prefix"},
		{Instance{Service: "A", Addr: "tcp@"}, "nothing after"},
		{Instance{Service: "A", Addr: "TCP@h:1"}, "lower-case"},
		{Instance{Service: "A", Addr: "tcp@h 1"}, "white space"},
		{Instance{Service: "A", Addr: "tcp@h:1/nested"}, "port"},
		{Instance{Service: "A", Addr: "tcp@h"}, "not host:port"},
		{Instance{Service: "A", Addr: "tcp@h:0"}, "from 1 to 65535"},
		{Instance{Service: "A", Addr: "tcp@h:65536"}, "from 1 to 65535"},
		{Instance{Service: "A", Addr: "tcp@h:+1"}, "from 1 to 65535"},
		{Instance{Service: "A", Addr: "tcp@h:1\x01"}, "control characters"},
		{Instance{Service: "A", Addr: "tcp@\xff:1"}, "not UTF-8"},
		{Instance{Service: "\xff", Addr: "tcp@h:1"}, "not UTF-8"},
	}
	for _, c := range bad {
		i, want := c.i, c.want
		err := i.Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want ErrInvalid mentioning %q", i, err, want)
		}
	}
}

// TestBounded: store data in errors and logs is cut, quoted, and says its size.
func TestBounded(t *testing.T) {
	if got := Bounded("a\xffb"); got != `"a\xffb"` {
		t.Errorf("Bounded short = %s", got)
	}
	long := strings.Repeat("x", 1<<20)
	got := Bounded(long)
	if len(got) > MaxLogged+40 || !strings.HasSuffix(got, "… (1048576 bytes)") {
		t.Errorf("Bounded of 1 MB = %d bytes: %.80s…", len(got), got)
	}
	if v := StoreData(long).LogValue().String(); len(v) > MaxLogged+40 || !strings.HasPrefix(v, "xxx") {
		t.Errorf("StoreData.LogValue of 1 MB = %d bytes: %.80s…", len(v), v)
	}
	if err := ValidateAddr(long); err == nil || len(err.Error()) > 3*MaxLogged {
		t.Errorf("ValidateAddr of 1 MB: %d bytes of error", len(err.Error()))
	}
}

// TestListChecker: invalid entries are dropped from a copy, never from the
// driver's slice, and each is logged once while it stays.
func TestListChecker(t *testing.T) {
	var logs strings.Builder
	c := listChecker{log: slog.New(slog.NewTextHandler(&logs, nil))}
	good := Instance{Service: "S", Addr: "tcp@10.0.0.1:1"}
	bad := Instance{Service: "S", Addr: "tcp@10.0.0.1:1/nested"}
	other := Instance{Service: "T", Addr: "tcp@10.0.0.1:2"}
	list := []Instance{bad, good, other}
	for range 3 {
		out := c.check("S", list)
		if len(out) != 1 || out[0].Addr != good.Addr {
			t.Fatalf("check = %v, want only %v", out, good)
		}
	}
	if list[0].Addr != bad.Addr || list[1].Addr != good.Addr || list[2].Service != other.Service {
		t.Fatalf("the driver's slice was changed: %v", list)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 2 {
		t.Fatalf("%d warnings for two bad entries kept in three lists:\n%s", n, logs.String())
	}
	c.check("S", []Instance{good}) // the bad ones left the store…
	c.check("S", list)             // …and came back: logged again
	if n := strings.Count(logs.String(), "level=WARN"); n != 4 {
		t.Fatalf("%d warnings, want 4 after the bad entries came back:\n%s", n, logs.String())
	}
	if l := []Instance{good}; &c.check("S", l)[0] != &l[0] {
		t.Fatalf("a valid list was copied")
	}
}
