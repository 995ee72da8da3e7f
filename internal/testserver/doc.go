// Package testserver starts real registry servers for tests outside the
// backend packages, whose own helpers are internal test code. Each server
// is behind its backend's build tag: StartEtcd needs -tags etcd, StartKube
// (an API server and controller-manager on an embedded etcd) -tags
// kubernetes. StartRPCX starts an rpcx server (rpcx's Arith example)
// registered in a registry.
package testserver
