// Package selector picks one instance of a service for each call, and retries
// failed calls according to a fail mode (Call).
//
// Feed a Selector the lists from core's Discovery.Watch with Update; Select
// is then safe from any number of goroutines. Update builds an immutable
// snapshot and publishes it with an atomic pointer, so Select takes no lock
// and allocates nothing. Every selector returns ErrNoInstances on an empty
// list. Selectors use the list as given: core's Discovery already drops
// instances whose state is "inactive".
//
// # Selectors
//
// Choose one by constructor or by name with New:
//
//   - "random" (NewRandom): uniform random choice.
//   - "roundrobin" (NewRoundRobin): each instance in turn, from a random
//     starting point. Each P (scheduler slot) keeps its own rotation, so
//     that cores do not fight over one counter; shares stay equal to within
//     one call per P.
//   - "weighted" (NewWeightedRoundRobin): nginx's smooth weighted round
//     robin (weights 5,1,1 give a a b a c a a), from a schedule precomputed
//     on Update and walked like roundrobin's list, one rotation per P, so it
//     costs what roundrobin costs. One goroutine sees nginx's exact order.
//   - "consistenthash" (NewConsistentHash): Select's key always maps to the
//     same instance, in every process and whatever the list order; adding or
//     removing an instance moves about 1/n of the keys. Ring of 160 virtual
//     nodes per address, fixed FNV-1a 64 + fmix64 hash. A change inserts or
//     removes only the changed instances' nodes (see Incremental).
//   - "p2c" (NewP2C): power of two choices on peak-EWMA latency times
//     in-flight calls, learnt from Pick.Done; errors count as slow calls.
//     Statistics survive Update, per address.
//   - "leasttps" (NewLeastTPS): of two random instances, the one publishing
//     the lower "tps"; a missing tps counts as the median of the known ones.
//   - "closest" (NewClosest, or New with WithLocation): round robin among the
//     instances nearest to the client by great-circle distance: the nearest
//     one and all within 1 km of it.
//
// Whatever the selector, call Pick.Done once when the call ends; it is free
// where no feedback is used.
//
// # Changes
//
// Update takes the whole list; what a selector keeps across it is its own
// business. Every selector keeps what must survive a change: p2c its
// latency and in-flight statistics per address, roundrobin, closest and
// weighted their per-P positions. consistenthash, p2c and weighted
// implement Incremental, which Follow uses: Apply takes only what changed.
// consistenthash's and weighted's Update also work the change out from the
// full list (a map lookup per instance), so one instance joining or leaving
// 10,000 moves 160 ring points instead of rebuilding 1.6M, and merges its
// picks into the weighted schedule instead of recomputing it; p2c's Apply
// passes over the list once without building maps of it.
//
// # Weights
//
// The weighted selector reads Metadata.Weight: a missing or unparsable
// weight is 1, zero or negative is 0. A zero-weight instance gets no traffic
// while any instance has a positive weight; if all weights are zero, traffic
// is spread evenly. Weights are divided by their gcd; extreme ratios that
// would need a schedule longer than 2^20 entries are scaled down
// proportionally, keeping positive weights at least 1. Schedules that nginx's
// algorithm builds in at most 1M steps are nginx's exactly; longer ones come
// from stride scheduling (same shares per period, evenly spread), into which
// changes are merged (see NewWeightedRoundRobin).
// Other selectors ignore weights.
//
// # Location
//
// The closest selector uses the "latitude" and "longitude" metadata
// (Metadata.Coordinates). Instances without valid coordinates are used only
// when no instance has them; then all instances are used, round robin.
//
// # Fail modes
//
// Call runs a function on a picked instance and handles failures as in rpcx:
//
//   - Failover (the zero value): retry on another instance, up to Retries
//     times (default 3), with jittered exponential backoff from Backoff
//     (default 10ms, capped at 1s). Keyed selectors get key#1, key#2… so that
//     a consistent hash moves on deterministically; already tried addresses
//     are avoided when possible.
//   - Failfast: one attempt.
//   - Failtry: retry on the same instance, same limits.
//   - Failbackup: if the first request has not answered within BackupDelay
//     (default 10ms), or failed, send a second one to another instance; the
//     first success wins and the other request's context is cancelled.
//
// An error marked with Business is an answer, not a failure: it is returned
// at once, as is. Call stops when its context is done, and the error it
// returns after failures wraps the last one.
package selector
