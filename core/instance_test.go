package core

import (
	"errors"
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
	}
	for _, c := range bad {
		i, want := c.i, c.want
		err := i.Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want ErrInvalid mentioning %q", i, err, want)
		}
	}
}
