// Package grpcdiscovery plugs discovery into google.golang.org/grpc, on both
// sides, with nothing but gRPC's public extension points: a stock
// grpc.ClientConn and grpc.Server work unchanged.
//
// # Client: resolver
//
// NewBuilder returns a resolver.Builder over any core.Discovery (a
// *discovery.Client from discovery.Open). Give it to the channel and dial
// the service by name:
//
//	c, _ := discovery.Open("etcd://127.0.0.1:2379/services")
//	conn, err := grpc.NewClient("discovery:///Echo",
//		grpc.WithResolvers(grpcdiscovery.NewBuilder(c)),
//		grpcdiscovery.WithBalancer(grpcdiscovery.P2C),
//		grpc.WithTransportCredentials(insecure.NewCredentials()))
//
// The resolver holds one core watch per channel; core shares one store watch
// per service among all of them, keeps the last list while the registry is
// unreachable and backs off by itself, so the resolver never polls and
// ResolveNow is a no-op. Each list becomes a resolver.State with one address
// per instance; an instance's core.Instance (its metadata included) rides in
// the address's BalancerAttributes (read it with AddressInstance or
// EndpointInstance). Only tcp instances are dialled; others are skipped with
// a logged reason. Target query parameters narrow the list:
// discovery:///Echo?group=blue&version=2.
//
// gRPC closes and rebuilds resolvers as a channel goes idle and wakes up
// (grpc.WithIdleTimeout, 30 minutes by default); Close ends the watch and
// waits for its goroutine, so idle cycles leak nothing.
//
// # Client: balancers
//
// The package registers gRPC load-balancing policies backed by package
// selector: P2C ("discovery_p2c"), Weighted ("discovery_weighted", smooth
// weighted round robin on the "weight" metadata), ConsistentHash
// ("discovery_consistenthash", keyed by WithHashKey on the call's context)
// and LeastTPS ("discovery_leasttps", on the "tps" the servers publish).
// Select one with WithBalancer, or in a service config:
//
//	{"loadBalancingConfig":[{"discovery_p2c":{}}]}
//
// RegisterBalancer adds a policy for any other selector.
//
// # Server
//
// Register advertises a listener's address under a service name and returns
// the function that withdraws it; ServerOptions (or the interceptors and
// StatsHandler one by one) feed the registrar's core.Meter, so every
// registration publishes the server's calls per second (tps) and open
// connections. Graceful shutdown is: deregister, then GracefulStop; clients
// stop picking the server as soon as the registry tells them, and calls
// already on their way finish or are retried elsewhere by gRPC.
package grpcdiscovery
