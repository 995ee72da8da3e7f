package selector

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/seedforge/discovery/core"
)

// at returns metadata for a location; NaN leaves it out.
func at(lat, lon float64) core.Metadata {
	if math.IsNaN(lat) {
		return nil
	}
	return core.Metadata{
		"latitude":  strconv.FormatFloat(lat, 'f', -1, 64),
		"longitude": strconv.FormatFloat(lon, 'f', -1, 64),
	}
}

func TestNewClosestValidates(t *testing.T) {
	for _, c := range [][2]float64{{91, 0}, {-90.1, 0}, {0, 180.5}, {0, -181}, {math.NaN(), 0}, {0, math.Inf(1)}} {
		if _, err := NewClosest(c[0], c[1]); err == nil || !strings.Contains(err.Error(), "latitude must be within") {
			t.Errorf("NewClosest(%v, %v): err = %v, want a range error", c[0], c[1], err)
		}
	}
	for _, c := range [][2]float64{{90, 180}, {-90, -180}, {0, 0}} {
		if _, err := NewClosest(c[0], c[1]); err != nil {
			t.Errorf("NewClosest(%v, %v): %v", c[0], c[1], err)
		}
	}
}

func TestHaversine(t *testing.T) {
	// Paris–London is about 344 km; a quarter meridian is 10 008 km.
	if d := haversineKm(48.8566, 2.3522, 51.5074, -0.1278); math.Abs(d-343.5) > 2 {
		t.Errorf("Paris–London = %v km", d)
	}
	if d := haversineKm(0, 0, 90, 0); math.Abs(d-10007.5) > 5 {
		t.Errorf("equator–pole = %v km", d)
	}
	if d := haversineKm(10, 170, 10, -170); math.Abs(d-2190) > 10 { // across the antimeridian
		t.Errorf("across 180° = %v km", d)
	}
}

func TestClosest(t *testing.T) {
	nan := math.NaN()
	paris, london, tokyo := [2]float64{48.8566, 2.3522}, [2]float64{51.5074, -0.1278}, [2]float64{35.68, 139.69}
	tests := []struct {
		name  string
		where [][2]float64 // per instance; NaN = no coordinates
		want  []int        // instances that share the traffic
	}{
		{"nearest wins", [][2]float64{tokyo, london, paris}, []int{2}},
		{"ties within 1 km share", [][2]float64{paris, {48.86, 2.355}, london}, []int{0, 1}},
		{"no coordinates are skipped", [][2]float64{{nan, 0}, london, {nan, 0}}, []int{1}},
		{"none with coordinates: all", [][2]float64{{nan, 0}, {nan, 0}, {nan, 0}}, []int{0, 1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := NewClosest(paris[0], paris[1])
			if err != nil {
				t.Fatal(err)
			}
			s := sel.(*closest)
			created := countCursors(s.seq)
			s.Update(instances(len(tc.where), func(i int) core.Metadata { return at(tc.where[i][0], tc.where[i][1]) }))
			got := count(t, s, 60*len(tc.want), nil)
			if len(got) != len(tc.want) {
				t.Fatalf("picks %v, want only instances %v", got, tc.want)
			}
			// Round robin: even to within one call per cursor.
			slack := int(created())
			for _, i := range tc.want {
				if n := got[addr(i)]; n < 60-slack || n > 60+slack {
					t.Fatalf("picks %v, want 60±%d each for %v", got, slack, tc.want)
				}
			}
		})
	}
}

func TestClosestInvalidCoordinates(t *testing.T) {
	s, _ := NewClosest(0, 0)
	s.Update(instances(3, func(i int) core.Metadata {
		switch i {
		case 0:
			return core.Metadata{"latitude": "95", "longitude": "0"} // out of range
		case 1:
			return core.Metadata{"latitude": "1"} // no longitude
		}
		return at(60, 60)
	}))
	if got := count(t, s, 10, nil); got[addr(2)] != 10 {
		t.Fatalf("picks %v: only the instance with valid coordinates should be used", got)
	}
}
