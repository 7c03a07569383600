package app

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/socklab/socklab/transports"
)

// The demo prints every fact lab.Probe measures, one row per transport in
// each of its four tables, for every API. (lab's matrix test checks the
// facts themselves.)
func TestDemoPrintsEveryTable(t *testing.T) {
	headers := []string{"CONNECT FIRST?", "TALKING TO NOBODY", "3000 BYTES IN ONE SEND", "THE LARGEST UDP DATAGRAM",
		"STALE SOCKET FILE", "CloseWrite AFTER A REQUEST", "A STRANGER SENDS TO THE CLIENT",
		"BOTH SEND, THEN READ", "--serial: THE 2ND CLIENT", "DEFAULT: THE 2ND CLIENT"}
	for _, api := range transports.APIs() {
		// Not parallel: urfave/cli writes its global flags on every run.
		t.Run(api, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), []string{"socklab", "demo", "--api", api}, Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			out := stdout.String()
			for _, h := range headers {
				if !strings.Contains(out, h) {
					t.Errorf("no column %q:\n%s", h, out)
				}
			}
			for _, name := range transports.Names() {
				rows := 0
				for line := range strings.Lines(out) {
					if strings.HasPrefix(line, name+" ") {
						rows++
					}
				}
				if rows != 4 {
					t.Errorf("%d rows for %s, want one per table (4):\n%s", rows, name, out)
				}
			}
			if strings.Contains(out, "mixed up") || strings.Contains(out, "not measured") {
				t.Errorf("a fact went wrong:\n%s", out)
			}
		})
	}
}
