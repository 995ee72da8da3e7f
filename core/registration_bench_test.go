package core_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/seedforge/discovery/backend/inprocess"
	"github.com/seedforge/discovery/core"
)

// BenchmarkRegisterMetadataChange: one Register of new metadata, returning
// once written (handed to the registration's goroutine, written by it, and
// the caller woken), on the inprocess store.
func BenchmarkRegisterMetadataChange(b *testing.B) {
	d := inprocess.Open(storeName())
	defer d.Close()
	reg, err := core.NewRegistrar(d, core.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	ctx := context.Background()
	inst := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:1"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		inst.Meta = core.Metadata{"v": strconv.Itoa(i)}
		if err := reg.Register(ctx, inst); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawPut is the store write alone, for comparison in the same run.
func BenchmarkRawPut(b *testing.B) {
	d := inprocess.Open(storeName())
	defer d.Close()
	ctx := context.Background()
	inst := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:1"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		inst.Meta = core.Metadata{"v": strconv.Itoa(i)}
		if err := d.Put(ctx, inst, core.DefaultTTL); err != nil {
			b.Fatal(err)
		}
	}
}
