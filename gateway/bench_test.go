package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smallnest/rpcx/client"
	"github.com/smallnest/rpcx/protocol"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/seedforge/discovery/gateway"
	"github.com/seedforge/discovery/internal/testserver"
)

// The benchmarks compare, in one run, a direct call with the same call
// through HTTP → gateway → server, all on loopback:
//
//	go test -run XXX -bench . ./gateway/
//
// Each reports requests/s and the p50/p99 latency of one call (µs);
// the gateway's added latency is the difference with the direct call.

// timed runs call b.N times, one at a time, and reports the latency
// percentiles and the rate.
func timed(b *testing.B, call func() error) {
	b.Helper()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		t0 := time.Now()
		if err := call(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	total := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
	b.ReportMetric(float64(b.N)/total.Seconds(), "req/s")
}

func BenchmarkRPCX(b *testing.B) {
	url := newRegistry()
	s := testserver.StartRPCX(b, url, "")
	b.Run("direct", func(b *testing.B) {
		cl := client.NewClient(client.Option{SerializeType: protocol.JSON, ConnectTimeout: time.Second})
		network, hostPort, _ := strings.Cut(s.Addr, "@")
		if err := cl.Connect(network, hostPort); err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		ctx := context.Background()
		timed(b, func() error {
			var r Reply
			return cl.Call(ctx, "Arith", "Mul", &testserver.Args{A: 6, B: 7}, &r)
		})
	})
	b.Run("gateway", func(b *testing.B) {
		_, hs := newGateway(b, gateway.Config{Discovery: open(b, url)})
		waitOK(b, hs.URL+"/Arith/Mul", `{}`)
		benchHTTP(b, hs.URL+"/Arith/Mul", `{"A":6,"B":7}`)
	})
}

func BenchmarkGRPC(b *testing.B) {
	url := newRegistry()
	addr := startGRPC(b, url, true, "grpc.health.v1.Health").addr
	b.Run("direct", func(b *testing.B) {
		conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		hc := healthpb.NewHealthClient(conn)
		ctx := context.Background()
		timed(b, func() error {
			_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		})
	})
	b.Run("gateway", func(b *testing.B) {
		_, hs := newGateway(b, gateway.Config{Discovery: open(b, url)})
		waitOK(b, hs.URL+"/grpc.health.v1.Health/Check", `{}`)
		benchHTTP(b, hs.URL+"/grpc.health.v1.Health/Check", `{}`)
	})
}

// benchHTTP posts body to url with one keep-alive connection.
func benchHTTP(b *testing.B, url, body string) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer hc.CloseIdleConnections()
	timed(b, func() error {
		res, err := hc.Post(url, "application/json", bytes.NewBufferString(body))
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("status %d", res.StatusCode)
		}
		return err
	})
}
