package bench

import (
	"slices"
	"testing"
)

// The interval is the order statistics a table of the binomial gives for
// a 95% confidence interval of the median.
func TestMedianInterval(t *testing.T) {
	count := func(n int) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(n - i) // unsorted on purpose
		}
		return xs
	}
	for _, tt := range []struct {
		n      int
		lo, hi float64
		ok     bool
	}{
		{1, 0, 0, false},
		{5, 0, 0, false},    // too few for 95%: even the whole range covers 94%
		{6, 1, 6, true},     // the first n with a 95% interval: the whole range
		{20, 6, 15, true},   // P(X ≤ 5) = 2.1%, P(X ≤ 6) = 5.8%
		{100, 40, 61, true}, // P(X ≤ 39) = 1.8%, P(X ≤ 40) = 2.8%
		{120, 49, 72, true}, // the --duration 12s default
	} {
		xs := count(tt.n)
		before := slices.Clone(xs)
		lo, hi, ok := medianInterval(xs)
		if lo != tt.lo || hi != tt.hi || ok != tt.ok {
			t.Errorf("n=%d: interval %v-%v (%v), want %v-%v (%v)", tt.n, lo, hi, ok, tt.lo, tt.hi, tt.ok)
		}
		if !slices.Equal(xs, before) {
			t.Errorf("n=%d: the values were reordered", tt.n)
		}
	}
}
