//go:build etcd

package discovery_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/seedforge/discovery/internal/testserver"
)

func TestDrainEtcd(t *testing.T) {
	e := testserver.StartEtcd(t)
	checkDrain(t, fmt.Sprintf("etcd://%s/drain-test?ttl=2s", e.Endpoint()), 2*time.Second)
}
