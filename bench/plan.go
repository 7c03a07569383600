package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/socklab/socklab/transports"
)

// Plan is a set of runs: every API × transport × client count, against
// one server, or against socklab's and the bare echo alternately.
type Plan struct {
	APIs       []string
	Transports []string // names, in the order to run them
	Clients    []int
	// Servers is one of Socklab, Bare, External; or Socklab and Bare, to
	// compare them: each round runs both back to back, in alternating
	// order, and socklab's rows get VsBare.
	Servers []string
	// Rounds is how many runs are merged into each result; Base.Duration
	// and Base.Messages are split between them. Short alternating rounds
	// compare two servers far more steadily than one long run each: the
	// rate of a whole run varies by ±15% on a busy machine.
	Rounds int
	// Base is every run's configuration; Transport, Server and Clients are
	// set per run.
	Base Config
	// Progress, when not nil, is called before each run and once at the end
	// with done == total.
	Progress func(done, total int, next string)
}

// Runs is how many runs the plan makes.
func (p Plan) Runs() int {
	return len(p.APIs) * len(p.Transports) * len(p.Clients) * len(p.Servers) * p.RoundsPerRow()
}

// RoundsPerRow is how many rounds each row is made of: Rounds, but no more
// than Base.Messages, so that every round sends at least one.
func (p Plan) RoundsPerRow() int {
	r := max(1, p.Rounds)
	if p.Base.Messages > 0 {
		r = min(r, p.Base.Messages)
	}
	return r
}

// Run makes every run of the plan and returns one result per API,
// transport, client count and server, in that order, with VsTCP and VsBare
// filled in. A run that could not start is a result with Skipped saying
// why, and err says so too; an External server that cannot be reached
// stops the plan.
func (p Plan) Run(ctx context.Context) ([]Result, error) {
	rounds := p.RoundsPerRow()
	total, done := p.Runs(), 0
	var results []Result
	var failed error
	for _, api := range p.APIs {
		for _, name := range p.Transports {
			t, err := transports.Lookup(api, name)
			for _, clients := range p.Clients {
				if err != nil {
					for _, srv := range p.Servers {
						results = append(results, Result{Transport: name, API: api, Server: srv, Clients: clients, Size: p.Base.Size, Skipped: err.Error()})
					}
					done += len(p.Servers) * rounds
					continue
				}
				merged := make([]Result, len(p.Servers))
				var ratios []float64
				for r := range rounds {
					order := slices.Clone(p.Servers)
					if r%2 == 1 {
						slices.Reverse(order) // ABBA: neither server always goes first
					}
					rates := map[string]float64{}
					for _, srv := range order {
						if p.Progress != nil {
							p.Progress(done, total, fmt.Sprintf("%s %s %s, %s", api, name, srv, plural(clients, "client")))
						}
						cfg := p.Base
						cfg.Transport, cfg.Server, cfg.Clients = t, srv, clients
						// A row's time (or messages) is split across its rounds.
						cfg.Duration = max(cfg.Duration/time.Duration(rounds), time.Millisecond)
						if cfg.Messages > 0 {
							cfg.Messages = p.Base.Messages / rounds
							if r < p.Base.Messages%rounds {
								cfg.Messages++ // the rest, one to each of the first rounds
							}
						}
						res, err := Run(ctx, cfg)
						done++
						if err != nil {
							if ctx.Err() != nil || srv == External {
								return results, fmt.Errorf("%s %s: %w", api, name, err)
							}
							res.Skipped = "failed: " + err.Error()
							failed = fmt.Errorf("%s %s with %d clients: %w", name, srv, clients, err)
						}
						i := slices.Index(p.Servers, srv)
						switch {
						case r == 0 || res.Skipped != "":
							merged[i] = res // a failed round fails its row
						case merged[i].Skipped == "":
							merged[i].merge(res)
						}
						if res.Skipped == "" {
							rates[srv] = res.Rate
						}
					}
					if s, b := rates[Socklab], rates[Bare]; s > 0 && b > 0 {
						ratios = append(ratios, s/b)
					}
				}
				i, j := slices.Index(p.Servers, Socklab), slices.Index(p.Servers, Bare)
				if i >= 0 && j >= 0 && len(ratios) > 0 && merged[i].Skipped == "" && merged[j].Skipped == "" {
					m := median(ratios)
					merged[i].VsBare = &m
					if lo, hi, ok := medianInterval(ratios); ok {
						merged[i].VsBareCI = []float64{lo, hi}
					}
				}
				results = append(results, merged...)
			}
		}
	}
	if p.Progress != nil {
		p.Progress(total, total, "")
	}
	SetVsTCP(results)
	return results, failed
}

// SetVsTCP sets each result's rate relative to tcp's with the same API,
// server, clients and size.
func SetVsTCP(results []Result) {
	type key struct {
		api, server   string
		clients, size int
	}
	tcp := map[key]float64{}
	for _, r := range results {
		if r.Transport == "tcp" && r.Skipped == "" && r.Rate > 0 {
			tcp[key{r.API, r.Server, r.Clients, r.Size}] = r.Rate
		}
	}
	for i := range results {
		r := &results[i]
		if base, ok := tcp[key{r.API, r.Server, r.Clients, r.Size}]; ok && r.Skipped == "" {
			v := r.Rate / base
			r.VsTCP = &v
		}
	}
}

// medianInterval is a 95% confidence interval for the median of the
// population xs was drawn from, without assuming its shape: the kth
// smallest and kth largest of xs, for the largest k that the count of
// values below the median, Binomial(n, 1/2), puts under k with at most
// 2.5% chance. Fewer than 6 values cannot give 95%: ok is false.
func medianInterval(xs []float64) (lo, hi float64, ok bool) {
	s := slices.Clone(xs)
	sort.Float64s(s)
	n := len(s)
	k, below := 0, 0.0 // below: P(Binomial(n, 1/2) < k+1)
	for j := 0; j < n/2; j++ {
		below += binomialHalf(n, j)
		if below > 0.025 {
			break
		}
		k = j + 1
	}
	if k == 0 {
		return 0, 0, false
	}
	return s[k-1], s[n-k], true
}

// binomialHalf is P(X = j) for X ~ Binomial(n, 1/2), in logarithms so that
// large n do not underflow.
func binomialHalf(n, j int) float64 {
	ln := func(x int) float64 { v, _ := math.Lgamma(float64(x + 1)); return v }
	return math.Exp(ln(n) - ln(j) - ln(n-j) - float64(n)*math.Ln2)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
