//go:build consul

package discovery_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/consul/consultest"
)

func TestDrainConsul(t *testing.T) {
	a := consultest.Start(t, consultest.Options{})
	// kv mode's sessions need ttl >= 20s with the agent's default minimum.
	t.Run("kv", func(t *testing.T) {
		checkDrain(t, fmt.Sprintf("consul://%s/drain-kv?ttl=20s", a.Addr), 20*time.Second)
	})
	t.Run("catalog", func(t *testing.T) {
		checkDrain(t, fmt.Sprintf("consul://%s?mode=catalog&ttl=2s", a.Addr), 2*time.Second)
	})
}
