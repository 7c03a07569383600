package app

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/socklab/socklab/lab"
	"github.com/socklab/socklab/transports"
	"github.com/urfave/cli/v2"
)

func demoCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run the echo over every transport in one process and compare what happens",
		Description: "Starts servers on every transport (fresh ports and socket paths), sends the same\n" +
			"messages through each, prints what happened side by side, and cleans up.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "api", Value: transports.APINet, EnvVars: []string{"SOCKLAB_API"}, Usage: "implementation: net or syscall"},
		},
		Action: func(c *cli.Context) error { return demo(c, env) },
	}
}

func demo(c *cli.Context, env Env) error {
	api := c.String("api")
	if _, err := transports.Lookup(api, "tcp"); err != nil {
		return usageError{err}
	}
	dir, err := lab.SocketDir("socklab-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// Every transport is probed at once (each on its own addresses); the
	// tables list them in teaching order.
	ts := transports.All(api)
	facts := make([]lab.Facts, len(ts))
	errs := make([]error, len(ts))
	var wg sync.WaitGroup
	for i, t := range ts {
		wg.Go(func() { facts[i], errs[i] = lab.Probe(c.Context, t, dir) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("%s: %w", ts[i].Spec().Name, err)
		}
	}

	out := env.Stdout
	fmt.Fprintf(out, "The article's timestamp echo over every transport (--api %s).\n", api)
	fmt.Fprintf(out, "Each server was started on a fresh address; every row is measured, not assumed.\n\n")
	table(out, facts, []string{"SOCKET", "CONNECT FIRST?", `REPLY TO "hello"`, `"one"+"two" SENT BACK TO BACK`, "TALKING TO NOBODY"},
		func(f lab.Facts) []string {
			spec := f.Transport.Spec()
			connect := "no"
			if spec.Kind.Connected() {
				connect = "yes (accept)"
			}
			boundaries := "kept: 2 replies"
			if f.QuickSendReplies == 1 {
				boundaries = "merged: 1 reply \"onetwo\""
			}
			return []string{connect, string(f.Reply), boundaries, f.NobodyListening.String()}
		})
	fmt.Fprint(out, `
Every reply is the request with "[<ctime>] " in front: 27 bytes longer.
A stream (SOCK_STREAM) is bytes, not messages: two sends can arrive as one read.
Datagrams and seqpackets keep each send whole. UDP needs no connection, so
talking to nobody only fails when the kernel reports it (ICMP "port unreachable").

Sizes: the server reads a stream 1024 bytes at a time (--bufsize) and answers each read.

`)
	table(out, facts, []string{`"one\n"+"two\n", --framing line`, "3000 BYTES IN ONE SEND", "A HUGE SEND", "THE LARGEST UDP DATAGRAM"},
		func(f lab.Facts) []string {
			oversize := "-"
			if f.Oversize != nil {
				oversize = f.Oversize.String()
			}
			return []string{replies(f.LineQuickSendReplies), f.Big.String(), f.Huge.String(), oversize}
		})
	fmt.Fprint(out, `
Ends and strangers: a socket file left by a dead server; the client's CloseWrite
(shutdown SHUT_WR) after one request; a third socket sending to the client's address.

`)
	table(out, facts, []string{"STALE SOCKET FILE", "CloseWrite AFTER A REQUEST", "A STRANGER SENDS TO THE CLIENT"},
		func(f lab.Facts) []string {
			stale := "-"
			if f.StaleSocketFile != nil {
				stale = f.StaleSocketFile.Short()
			}
			return []string{stale, f.HalfClose.String(), f.Stranger.String()}
		})
	fmt.Fprint(out, `
Two clients: both send, then both read; and a second client sending while the first
stays connected, to a --serial server (the article's: one client at a time) and to the
default one.

`)
	table(out, facts, []string{"BOTH SEND, THEN READ", "--serial: THE 2ND CLIENT", "DEFAULT: THE 2ND CLIENT"},
		func(f lab.Facts) []string {
			own := "mixed up!"
			if f.OwnReplies {
				own = "each its own reply"
			}
			return []string{own, f.Serial.String(), f.Concurrent.String()}
		})
	fmt.Fprint(out, `
Next: 'socklab serve' in one terminal, 'socklab client' in another.
`)
	return nil
}

// table prints one row per transport: its name, then row's cells (the
// socket's family and type first when the header asks for them).
func table(out io.Writer, facts []lab.Facts, header []string, row func(lab.Facts) []string) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TRANSPORT\t"+strings.Join(header, "\t"))
	for _, f := range facts {
		spec := f.Transport.Spec()
		cells := []string{spec.Name}
		if header[0] == "SOCKET" {
			cells = append(cells, spec.Family+" "+spec.SockType)
		}
		if f.Skipped != "" {
			cells = append(cells, "skipped: "+f.Skipped)
		} else {
			cells = append(cells, row(f)...)
		}
		fmt.Fprintln(w, strings.Join(cells, "\t"))
	}
	w.Flush()
}

func replies(n int) string {
	if n == 1 {
		return "1 reply"
	}
	return fmt.Sprintf("%d replies", n)
}
