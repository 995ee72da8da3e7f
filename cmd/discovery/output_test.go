package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/seedforge/discovery/core"
)

// TestTable: the well-known keys get their columns, the rest goes to META
// in rpcx's wire form, and columns line up.
func TestTable(t *testing.T) {
	var b bytes.Buffer
	err := writeTable(&b, []core.Instance{
		{Service: "A", Addr: "tcp@10.0.0.1:8972", Meta: core.Metadata{"weight": "2", "group": "blue", "tps": "12.5", "version": "2", "zone": "eu west"}},
		{Service: "A", Addr: "unix@/tmp/a.sock", Meta: core.Metadata{"state": "inactive"}},
		{Service: "A", Addr: "tcp@10.0.0.2:8972"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `ADDRESS            WEIGHT  GROUP  STATE     TPS   META
tcp@10.0.0.1:8972  2       blue   active    12.5  version=2&zone=eu+west
unix@/tmp/a.sock   1       -      inactive  -     -
tcp@10.0.0.2:8972  1       -      active    -     -
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestParseInterspersed: flags may follow arguments; "--" ends the flags.
func TestParseInterspersed(t *testing.T) {
	fs, o := newFlagSet(registerCmd)
	pos, err := parseInterspersed(fs, []string{"etcd://h:1", "--meta", "a=1", "A", "--json", "--", "tcp@h:1", "--ttl"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pos, []string{"etcd://h:1", "A", "tcp@h:1", "--ttl"}) || !o.json || o.meta.m["a"] != "1" {
		t.Errorf("pos %q, json %v, meta %v", pos, o.json, o.meta.m)
	}
}

// TestScrub: the URL's password is hidden in any text, as given, escaped,
// and when the scheme was forgotten; a consul token too.
func TestScrub(t *testing.T) {
	for _, u := range []string{"etcd://root:p%40ss@h:2379/x", "root:p@ss@h:2379", "zk://u:p@ss@h:1"} {
		e := &env{}
		e.noteSecrets(u)
		got := e.oneLine("discovery: invalid input: bad p@ss and p%40ss\nin " + u)
		if strings.Contains(got, "p@ss") || strings.Contains(got, "p%40ss") || strings.Contains(got, "\n") || strings.Contains(got, "discovery: ") {
			t.Errorf("%s: %q", u, got)
		}
	}
	if _, ok := core.LookupBackend("consul"); ok {
		e := &env{}
		e.noteSecrets("consul://tok3n@h:8500")
		if got := e.scrub("token tok3n"); got != "token xxxxx" {
			t.Errorf("consul token: %q", got)
		}
	}
}
