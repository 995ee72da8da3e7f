// Command grpc runs three gRPC Echo servers and a stock gRPC client on the
// discovery framework, in one process: the servers register themselves
// (weights 1, 1 and 2) and count their calls through interceptors; the
// client is a plain grpc.ClientConn on discovery:///Echo, shown with three of
// the balancers grpcdiscovery registers (weighted, p2c, consistent hash).
// Then one server deregisters and stops gracefully while calls keep flowing,
// without a failed call.
//
//	go run ./examples/grpc
//	go run -tags etcd ./examples/grpc -registry etcd://127.0.0.1:2379/services
//
// Any registry URL works, given the build tag of its backend.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/grpcdiscovery"
)

func main() {
	registry := flag.String("registry", "inprocess://grpc-demo", "registry URL (etcd://… needs -tags etcd)")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := run(*registry); err != nil {
		fmt.Fprintln(os.Stderr, "grpc example:", err)
		os.Exit(1)
	}
}

// server is one gRPC server with its own registry connection, as it would be
// in its own process.
type server struct {
	echo       *echoServer
	grpc       *grpc.Server
	reg        *discovery.Client
	deregister func(context.Context) error
	served     chan struct{}
}

func startServer(ctx context.Context, registry, weight string) (*server, error) {
	reg, err := discovery.Open(registry)
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		reg.Close()
		return nil, err
	}
	s := &server{
		echo: &echoServer{addr: lis.Addr().String()},
		// The interceptors count every call in the registrar's meter, which
		// each refresh publishes as the server's tps.
		grpc:   grpc.NewServer(grpcdiscovery.ServerOptions(reg)...),
		reg:    reg,
		served: make(chan struct{}),
	}
	s.grpc.RegisterService(&echoDesc, s.echo)
	s.deregister, err = grpcdiscovery.Register(ctx, reg, "Echo", lis, map[string]string{"weight": weight})
	if err != nil {
		lis.Close()
		reg.Close()
		return nil, err
	}
	go func() {
		defer close(s.served)
		s.grpc.Serve(lis)
	}()
	return s, nil
}

// stop is the graceful shutdown order: leave the registry first, so that
// clients stop picking this server, then let the calls under way finish.
func (s *server) stop(ctx context.Context) error {
	err := s.deregister(ctx)
	s.grpc.GracefulStop()
	<-s.served
	return err
}

func (s *server) close() {
	s.grpc.Stop()
	<-s.served
	s.reg.Close()
}

func run(registry string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var servers []*server
	for _, w := range []string{"1", "1", "2"} {
		s, err := startServer(ctx, registry, w)
		if err != nil {
			return err
		}
		defer s.close()
		servers = append(servers, s)
		fmt.Printf("server %s registered Echo with weight=%s\n", s.echo.addr, w)
	}

	client, err := discovery.Open(registry)
	if err != nil {
		return err
	}
	defer client.Close()
	builder := grpcdiscovery.NewBuilder(client)
	dial := func(policy string) (*grpc.ClientConn, error) {
		return grpc.NewClient("discovery:///Echo",
			grpc.WithResolvers(builder),
			grpcdiscovery.WithBalancer(policy),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
	}

	// Smooth weighted round robin: exactly the registered weights.
	weighted, err := dial(grpcdiscovery.Weighted)
	if err != nil {
		return err
	}
	defer weighted.Close()
	if err := warmUp(ctx, weighted, servers, nil); err != nil {
		return err
	}
	counts, failed := calls(ctx, weighted, 400, nil)
	fmt.Printf("\n%s, 400 calls (weights 1, 1, 2):\n", grpcdiscovery.Weighted)
	printCounts(counts, servers)

	// Power of two choices: a server that turns slow is left alone.
	servers[2].echo.delay.Store(int64(20 * time.Millisecond))
	p2c, err := dial(grpcdiscovery.P2C)
	if err != nil {
		return err
	}
	defer p2c.Close()
	if err := warmUp(ctx, p2c, servers, nil); err != nil {
		return err
	}
	counts, f := calls(ctx, p2c, 300, nil)
	failed += f
	servers[2].echo.delay.Store(0)
	fmt.Printf("\n%s, 300 calls, %s answering 20ms late:\n", grpcdiscovery.P2C, servers[2].echo.addr)
	printCounts(counts, servers)

	// Consistent hash: one key, one server, whatever the client.
	hash, err := dial(grpcdiscovery.ConsistentHash)
	if err != nil {
		return err
	}
	defer hash.Close()
	n := 0
	if err := warmUp(ctx, hash, servers, func(ctx context.Context) context.Context {
		n++
		return grpcdiscovery.WithHashKey(ctx, fmt.Sprint("warm-up-", n))
	}); err != nil {
		return err
	}
	fmt.Printf("\n%s, 20 calls for each key:\n", grpcdiscovery.ConsistentHash)
	for k := range 6 {
		key := fmt.Sprintf("user-%d", k)
		counts, f := calls(ctx, hash, 20, func(ctx context.Context) context.Context { return grpcdiscovery.WithHashKey(ctx, key) })
		failed += f
		for who, c := range counts {
			fmt.Printf("  %s → %s  %d calls\n", key, who, c)
		}
	}

	// Graceful stop under load: four callers keep going while the weight-2
	// server deregisters and stops.
	stopped := servers[2]
	fmt.Printf("\nstopping %s (deregister, then GracefulStop) while 4 callers keep calling\n", stopped.echo.addr)
	var (
		wg            sync.WaitGroup
		done          = make(chan struct{})
		during, dfail atomic.Int64
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				_, f := calls(ctx, weighted, 1, nil)
				during.Add(1)
				dfail.Add(int64(f))
			}
		}()
	}
	for during.Load() < 100 {
		if err := pause(ctx); err != nil {
			return err
		}
	}
	if err := stopped.stop(ctx); err != nil {
		return err
	}
	mark := during.Load()
	for during.Load() < mark+100 {
		if err := pause(ctx); err != nil {
			return err
		}
	}
	close(done)
	wg.Wait()
	fmt.Printf("%d calls during the stop, %d failed\n", during.Load(), dfail.Load())
	failed += int(dfail.Load())
	more, f := calls(ctx, weighted, 100, nil)
	failed += f
	fmt.Println("100 more calls:")
	printCounts(more, servers)

	fmt.Println("\ncalls counted by each server's interceptor (published as tps):")
	for _, s := range servers {
		fmt.Printf("  %s  %d\n", s.echo.addr, s.reg.Meter().Calls())
	}
	fmt.Printf("\nfailed calls: %d\n", failed)
	if failed != 0 || more[stopped.echo.addr] != 0 {
		return fmt.Errorf("%d calls failed, %d reached the stopped server", failed, more[stopped.echo.addr])
	}
	return nil
}

// calls makes n sequential calls and counts the answers per server.
func calls(ctx context.Context, conn *grpc.ClientConn, n int, with func(context.Context) context.Context) (map[string]int, int) {
	counts := map[string]int{}
	failed := 0
	for range n {
		cctx := ctx
		if with != nil {
			cctx = with(ctx)
		}
		out := new(wrapperspb.StringValue)
		if err := conn.Invoke(cctx, echoMethod, wrapperspb.String("hi"), out); err != nil {
			fmt.Fprintln(os.Stderr, "call failed:", err)
			failed++
			continue
		}
		counts[out.GetValue()]++
	}
	return counts, failed
}

// warmUp calls until every server has answered: the channel connects to
// the servers in parallel, and until all are connected the spread would
// not show the policy alone.
func warmUp(ctx context.Context, conn *grpc.ClientConn, servers []*server, with func(context.Context) context.Context) error {
	seen := map[string]bool{}
	for {
		counts, _ := calls(ctx, conn, 1, with)
		for who := range counts {
			seen[who] = true
		}
		all := true
		for _, s := range servers {
			all = all && seen[s.echo.addr]
		}
		if all {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("not every server answered: %w", err)
		}
	}
}

func pause(ctx context.Context) error {
	t := time.NewTimer(5 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func printCounts(counts map[string]int, servers []*server) {
	for _, s := range servers {
		fmt.Printf("  %s  %3d calls\n", s.echo.addr, counts[s.echo.addr])
	}
}
