package arith_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/inprocess"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/examples/internal/arith"
	"github.com/seedforge/discovery/internal/proctest"
)

// An example server started before its registry answers says "pending"
// and never "registered" until the record is written; then it says so,
// without a restart (issue 10 §1).
func TestServeSaysRegisteredOnlyOnceWritten(t *testing.T) {
	name := fmt.Sprintf("arith-late-%d", time.Now().UnixNano())
	store := inprocess.Lookup(name)
	store.SetDown(true)
	var out proctest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- arith.Serve(ctx, "127.0.0.1:0", "inprocess://"+name, "weight=2", &out) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	coretest.Poll(t, 30*time.Second, "pending said", func() error {
		if !strings.Contains(out.String(), "pending (registry not answering), retrying") {
			return fmt.Errorf("output %q", out.String())
		}
		return nil
	})
	if strings.Contains(out.String(), "registered in") {
		t.Fatalf("said registered while the registry was down: %q", out.String())
	}
	store.SetDown(false)
	coretest.Poll(t, 30*time.Second, "registered said once written", func() error {
		if !strings.Contains(out.String(), ", registered in inprocess://"+name) {
			return fmt.Errorf("output %q", out.String())
		}
		if n := len(store.Instances("Arith")); n != 1 {
			return fmt.Errorf("%d records", n)
		}
		return nil
	})
}
