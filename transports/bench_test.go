package transports_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/lab"
	"github.com/socklab/socklab/transports"
)

// BenchmarkRoundTrip is one request and its whole reply through each
// transport, with socklab's own client (echo.Client.Exchange) and server,
// one client at a time: the latency of the socket kind. Sub-benchmarks are
// named after the transport, then the API:
//
//	go test -run '^$' -bench RoundTrip ./transports
//	go test -run '^$' -bench 'RoundTrip/unix/' ./transports
//
// The allocations reported are the client's (Exchange returns a fresh
// reply); the server's per-message path allocates nothing (see
// echo.TestServeLoopAllocatesNothing).
func BenchmarkRoundTrip(b *testing.B) {
	msg := []byte("a request of sixty-four bytes, give or take a few, for the bench")
	for _, name := range transports.Names() {
		b.Run(name, func(b *testing.B) {
			for _, api := range transports.APIs() {
				tr, err := transports.Lookup(api, name)
				if err != nil {
					continue
				}
				b.Run(api, func(b *testing.B) {
					if tr.Spec().Family == "AF_INET6" {
						if why := lab.IPv6Unavailable(); why != "" {
							b.Skip(why)
						}
					}
					c := benchPair(b, tr)
					b.ReportAllocs()
					b.SetBytes(int64(2*len(msg) + echo.PrefixLen))
					for b.Loop() {
						if _, err := c.Exchange(msg); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// benchPair starts a server of tr and connects a client to it.
func benchPair(b *testing.B, tr transports.Transport) *echo.Client {
	b.Helper()
	dir, err := os.MkdirTemp("", "sl")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := echo.Start(ctx, tr, lab.TempAddr(tr, dir), transports.Options{}, echo.Config{})
	if err != nil {
		cancel()
		os.RemoveAll(dir)
		b.Fatal(err)
	}
	dctx, dcancel := context.WithTimeout(ctx, lab.Timeout)
	defer dcancel()
	c, err := echo.Dial(dctx, tr, srv.Addr.String(), transports.Options{}, echo.ClientConfig{Timeout: 10 * time.Second})
	if err != nil {
		cancel()
		srv.Wait()
		os.RemoveAll(dir)
		b.Fatal(err)
	}
	b.Cleanup(func() {
		c.Close()
		cancel()
		srv.Wait()
		os.RemoveAll(dir)
	})
	return c
}
