package bench_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/socklab/socklab/bench"
	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/transports"
)

// BenchmarkEcho is the echo's request rate per transport, client count and
// server: socklab's server (as 'socklab serve' runs it) and the bare
// reference echo, driven by the same client in the same process. One op is
// one request answered; compare the two servers' ns/op with benchstat, or
// run 'socklab bench --vs-bare', which alternates them and gives the ratio.
//
//	go test -run '^$' -bench Echo -count 6 ./bench | tee new.txt
func BenchmarkEcho(b *testing.B) {
	for _, api := range transports.APIs() {
		for _, t := range transports.All(api) {
			for _, clients := range []int{1, 64} {
				for _, srv := range []string{bench.Socklab, bench.Bare} {
					name := fmt.Sprintf("%s/%s/c%d/%s", api, t.Spec().Name, clients, srv)
					b.Run(name, func(b *testing.B) { benchEcho(b, t, srv, clients) })
				}
			}
		}
	}
}

func benchEcho(b *testing.B, t transports.Transport, srv string, clients int) {
	b.ReportAllocs()
	cfg := bench.Config{
		Transport: t, Server: srv, Clients: clients, Size: 64,
		Messages: max(1, b.N/clients), Timeout: 5 * time.Second,
		Echo: echo.Config{IdleTimeout: 5 * time.Minute, WriteTimeout: 30 * time.Second, Guard: echo.Guard{Rate: 1e9}},
	}
	b.ResetTimer()
	res, err := bench.Run(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	if res.Skipped != "" {
		b.Skip(res.Skipped)
	}
	if res.Errors > 0 {
		b.Fatalf("%d errors, the first: %s", res.Errors, res.FirstError)
	}
	b.ReportMetric(res.Rate, "msgs/s")
	b.ReportMetric(res.P50*1e3, "p50-ns")
	b.ReportMetric(res.P99*1e3, "p99-ns")
	if res.Lost > 0 {
		b.ReportMetric(float64(res.Lost), "lost")
	}
}
