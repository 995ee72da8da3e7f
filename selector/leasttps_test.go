package selector

import (
	"testing"

	"github.com/seedforge/discovery/core"
)

func tpsList(tps ...string) []core.Instance {
	return instances(len(tps), func(i int) core.Metadata {
		if tps[i] == "-" {
			return nil
		}
		return core.Metadata{"tps": tps[i]}
	})
}

func TestLeastTPSPrefersLowLoad(t *testing.T) {
	s := NewLeastTPS()
	s.Update(tpsList("1", "100", "100"))
	got := count(t, s, 3000, nil)
	// The tps=1 instance wins every pair it is in: 2/3 of the picks, the
	// others 1/6 each. It must not get all of them.
	if got[addr(0)] < 1700 || got[addr(0)] > 2300 || got[addr(1)] < 300 || got[addr(2)] < 300 {
		t.Fatalf("picks %v: want about 2000, 500, 500", got)
	}
}

func TestLeastTPSUnknown(t *testing.T) {
	tests := []struct {
		name string
		tps  []string
		want []float64 // effective tps
	}{
		{"missing is the median", []string{"10", "-", "30", "20"}, []float64{10, 20, 30, 20}},
		{"even count median", []string{"10", "-", "40"}, []float64{10, 25, 40}},
		{"garbage, negative, infinite", []string{"5", "abc", "-3", "+Inf", "NaN"}, []float64{5, 5, 5, 5, 5}},
		{"none known", []string{"-", "-"}, []float64{0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewLeastTPS().(*leastTPS)
			s.Update(tpsList(tc.tps...))
			got := s.snap.Load().tps
			for i := range tc.want {
				if got[i] != tc.want[i] {
					t.Fatalf("effective tps %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestLeastTPSEqualIsUniform(t *testing.T) {
	s := NewLeastTPS()
	s.Update(tpsList("-", "-", "-"))
	for a, n := range count(t, s, 3000, nil) {
		if n < 700 {
			t.Fatalf("%s got %d of 3000 picks with no tps known", a, n)
		}
	}
}
