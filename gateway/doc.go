// Package gateway is an HTTP gateway to the services of a registry, in the
// style of go-micro's API gateway and rpcx-gateway. It is an http.Handler
// built on a discovery Client and the selector package, with no policy of
// its own: core watches the registry, selector picks instances and applies
// the fail modes, and the gateway only translates HTTP to calls.
//
// Routes:
//
//	POST /{service}/{method}     JSON body → the method's JSON reply
//	POST /rpc                    {"service": …, "method": …, "request": {…}}
//	GET  /services               [{"service": …, "instances": n}, …]
//	POST /<any path> with X-RPCX-ServicePath and X-RPCX-ServiceMethod headers:
//	                             rpcx's HTTP gateway protocol, body passed as is
//
// rpcx services get a raw rpcx message with JSON serialisation, which rpcx
// servers decode natively: no per-service code. An instance whose metadata
// has protocol=grpc (set by grpcdiscovery.Register) is called over gRPC,
// the JSON request converted to protobuf with the descriptors the server
// publishes through gRPC server reflection.
//
// Errors a client can act on (the body is {"error": "…"}):
//
//	400  body is not JSON, or does not fit the method's request type; bad header
//	404  unknown service (no instance ever seen) or unknown method
//	413  body over Config.MaxBodyBytes
//	422  the service answered with an error (business error); its text is the body
//	429  too many lookups of service names the gateway does not follow yet
//	502  the instances could not be reached or broke the call (after retries)
//	503  the service is known but has no active instance
//	504  the deadline (X-Request-Timeout header, or the service's Timeout) passed
//
// Retries happen only where they are safe: a connection that could not be
// opened is retried on another instance by the fail mode; a call that may
// have reached the server is retried only for services configured
// Idempotent.
package gateway
