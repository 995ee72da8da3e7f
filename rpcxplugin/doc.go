// Package rpcxplugin plugs discovery into rpcx (github.com/smallnest/rpcx
// v1.9.3) on both sides:
//
//   - ServerPlugin is an rpcx server plugin: every service and function the
//     server registers is registered in the registry once the server
//     listens, calls and connections feed the TPS meter, and Shutdown/Close
//     deregister everything.
//   - Discovery implements rpcx's client.ServiceDiscovery over a
//     core.Discovery, so any XClient, fail mode and rpcx selector works on it
//     unchanged. KVPair.Key is network@addr and KVPair.Value the URL-query
//     metadata, exactly as rpcx's own registries produce them.
package rpcxplugin
