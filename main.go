// Command socklab is a sockets lab: the timestamp echo server and client of
// "Network Programming in Python", in Go, over seven transports.
package main

import (
	"context"
	"os"

	"github.com/socklab/socklab/internal/app"
)

func main() {
	os.Exit(app.Main(context.Background(), os.Args, app.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
}
