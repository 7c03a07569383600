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
	}{
		{1, 1, 1},
		{5, 1, 5},     // too few for 95%: the whole range
		{6, 1, 6},     // the first n with a 95% interval
		{20, 6, 15},   // P(X ≤ 5) = 2.1%, P(X ≤ 6) = 5.8%
		{100, 40, 61}, // P(X ≤ 39) = 1.8%, P(X ≤ 40) = 2.8%
	} {
		xs := count(tt.n)
		before := slices.Clone(xs)
		lo, hi := medianInterval(xs)
		if lo != tt.lo || hi != tt.hi {
			t.Errorf("n=%d: interval %v-%v, want %v-%v", tt.n, lo, hi, tt.lo, tt.hi)
		}
		if !slices.Equal(xs, before) {
			t.Errorf("n=%d: the values were reordered", tt.n)
		}
	}
}
