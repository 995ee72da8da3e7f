package selector

import (
	"fmt"
	"math"
	"sync/atomic"

	"github.com/seedforge/discovery/core"
)

const (
	earthRadiusKm = 6371.0088 // mean radius (IUGG)
	// tieKm makes instances in the same place equals despite rounding of the
	// published coordinates, so they share the traffic.
	tieKm = 1.0
)

// NewClosest returns a Selector for a client at (lat, lon), in degrees. On
// Update it computes the great-circle (haversine) distance to every instance
// with valid "latitude"/"longitude" metadata (Metadata.Coordinates), keeps the
// nearest ones — all within 1 km of the minimum distance — and Select
// round-robins among them (per P, as NewRoundRobin does).
//
// Instances without valid coordinates are never picked while any instance
// has them. When none has, all instances are used, round robin, so a missing
// location degrades to plain round robin instead of an outage.
//
// It returns an error if lat is not within [-90, 90] or lon not within
// [-180, 180].
func NewClosest(lat, lon float64) (Selector, error) {
	if err := validLocation(lat, lon); err != nil {
		return nil, err
	}
	return &closest{lat: lat, lon: lon, seq: newCursors()}, nil
}

func validLocation(lat, lon float64) error {
	// The negated form also rejects NaN.
	if !(lat >= -90 && lat <= 90) || !(lon >= -180 && lon <= 180) {
		return fmt.Errorf("selector: invalid location (%v, %v): latitude must be within [-90, 90] and longitude within [-180, 180] degrees", lat, lon)
	}
	return nil
}

type closest struct {
	lat, lon float64
	list     atomic.Pointer[[]core.Instance] // the nearest instances only
	seq      *cursors
}

func (c *closest) Update(instances []core.Instance) {
	dist := make([]float64, len(instances))
	best := math.Inf(1)
	for i, inst := range instances {
		dist[i] = math.Inf(1)
		if lat, lon, ok := inst.Meta.Coordinates(); ok {
			dist[i] = haversineKm(c.lat, c.lon, lat, lon)
			best = min(best, dist[i])
		}
	}
	var near []core.Instance
	if math.IsInf(best, 1) {
		near = copyInstances(instances)
	} else {
		for i, inst := range instances {
			if dist[i] <= best+tieKm {
				near = append(near, inst)
			}
		}
	}
	c.list.Store(&near)
}

func (c *closest) Select(string) (Pick, error) {
	p := c.list.Load()
	if p == nil || len(*p) == 0 {
		return Pick{}, ErrNoInstances
	}
	l := *p
	return Pick{Instance: l[c.seq.next()%uint64(len(l))]}, nil
}

// haversineKm is the great-circle distance between two points in degrees.
func haversineKm(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLon := (lon2 - lon1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) +
		math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKm * math.Asin(math.Sqrt(min(1, a)))
}
