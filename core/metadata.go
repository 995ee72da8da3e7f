package core

import (
	"fmt"
	"maps"
	"net/url"
	"strconv"
)

// Well-known metadata keys, as rpcx uses them.
const (
	MetaWeight  = "weight"
	MetaGroup   = "group"
	MetaState   = "state" // "inactive" takes an instance out of rotation
	MetaVersion = "version"
	MetaTPS     = "tps"
	// MetaCalls and MetaConnections mean what stock rpcx's register plugins
	// write: go-metrics mean rates since the server started, per second,
	// formatted %.2f (calls per second, accepted connections per second).
	MetaCalls       = "calls"
	MetaConnections = "connections"
	// MetaCallsTotal and MetaConnectionsOpen are this framework's own
	// counts: calls served since start, connections open now.
	MetaCallsTotal      = "calls_total"
	MetaConnectionsOpen = "connections_open"
	MetaLatitude        = "latitude"
	MetaLongitude       = "longitude"
	// MetaProtocol is the protocol an instance speaks, for clients that
	// speak several (the HTTP gateway): ProtocolGRPC, set by
	// grpcdiscovery.Register; absent means rpcx.
	MetaProtocol = "protocol"

	StateInactive = "inactive"
	ProtocolGRPC  = "grpc"
)

// LoadKeys are the metadata keys a server's Meter publishes: they move with
// traffic, not with the instance's configuration.
var LoadKeys = []string{MetaTPS, MetaCalls, MetaConnections, MetaCallsTotal, MetaConnectionsOpen}

// Metadata holds an instance's key/value attributes. Unknown keys are kept.
type Metadata map[string]string

// ParseMetadata decodes rpcx's registry value format, a URL query string
// ("weight=2&group=blue"). For a repeated key the first value wins.
func ParseMetadata(s string) (Metadata, error) {
	v, err := url.ParseQuery(s)
	if err != nil {
		return nil, fmt.Errorf("%w: metadata %s is not a URL query string: %v", ErrInvalid, Bounded(s), err)
	}
	m := make(Metadata, len(v))
	for k, vals := range v {
		if len(vals) > 0 {
			m[k] = vals[0]
		}
	}
	return m, nil
}

// Encode returns the rpcx wire form, keys sorted so equal maps encode equally.
func (m Metadata) Encode() string {
	v := make(url.Values, len(m))
	for k, s := range m {
		v.Set(k, s)
	}
	return v.Encode()
}

// Clone returns a copy that can be changed without touching m.
func (m Metadata) Clone() Metadata {
	if m == nil {
		return Metadata{}
	}
	return maps.Clone(m)
}

// Weight returns the weight; missing or unparsable is 1, below 0 is 0.
func (m Metadata) Weight() int {
	w, err := strconv.Atoi(m[MetaWeight])
	switch {
	case err != nil:
		return 1
	case w < 0:
		return 0
	}
	return w
}

// TPS returns the published load in calls per second, and whether it was set.
func (m Metadata) TPS() (float64, bool) { return m.float(MetaTPS) }

// Coordinates returns latitude and longitude, and whether both are valid.
func (m Metadata) Coordinates() (lat, lon float64, ok bool) {
	lat, ok1 := m.float(MetaLatitude)
	lon, ok2 := m.float(MetaLongitude)
	if !ok1 || !ok2 || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return 0, 0, false
	}
	return lat, lon, true
}

// Inactive reports whether the instance asked to be taken out of rotation.
func (m Metadata) Inactive() bool { return m[MetaState] == StateInactive }

func (m Metadata) float(key string) (float64, bool) {
	s, ok := m[key]
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != f { // NaN
		return 0, false
	}
	return f, true
}
