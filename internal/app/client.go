package app

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/transports"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

func clientCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "client",
		Usage: "send messages to the server and print its replies",
		Description: "With -m, sends each message and exits. Otherwise reads lines from stdin:\n" +
			"on a terminal it prompts with '> ' and an empty line ends, as in the article.",
		Flags: append(socketFlags(),
			&cli.StringSliceFlag{Name: "message", Aliases: []string{"m"}, Usage: "send this message (repeatable) instead of reading stdin"},
			&cli.DurationFlag{Name: "timeout", Value: 2 * time.Second, Usage: "datagrams: wait this long for a reply before sending again; also the connect timeout"},
			&cli.IntFlag{Name: "retries", Value: 3, Usage: "datagrams: how many times to send again when no reply comes (each wait doubles)"},
		),
		Action: func(c *cli.Context) error { return runClient(c, env) },
	}
}

func runClient(c *cli.Context, env Env) error {
	sock, err := parseSocket(c)
	if err != nil {
		return err
	}
	if c.Duration("timeout") <= 0 {
		return usagef("--timeout must be positive, not %s", c.Duration("timeout"))
	}
	if err := inRange("retries", c.Int("retries"), 0, 100); err != nil {
		return err
	}
	opt := transports.Options{}
	if sock.trace {
		opt.Trace = transports.NewTracer(env.Stderr)
	}
	dialCtx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	cl, err := echo.Dial(dialCtx, sock.t, sock.addr, opt, echo.ClientConfig{
		Framing: sock.framing,
		Timeout: c.Duration("timeout"),
		Retries: c.Int("retries"),
	})
	if err != nil {
		return noServer(sock, badAddr(sock, err))
	}
	defer cl.Close()

	send := func(msg []byte) error {
		reply, err := cl.Exchange(msg)
		if err != nil {
			return noServer(sock, err)
		}
		reply = bytes.TrimSuffix(reply, []byte("\n"))
		_, err = fmt.Fprintf(env.Stdout, "%s\n", reply)
		return err
	}
	if c.IsSet("message") {
		for _, m := range c.StringSlice("message") {
			if err := send([]byte(m)); err != nil {
				return err
			}
		}
		return nil
	}
	return readLines(env, send)
}

// readLines sends each line of stdin. On a terminal it prompts like the
// article's client and stops at an empty line; from a pipe it sends every
// non-empty line until end of input.
func readLines(env Env, send func([]byte) error) error {
	interactive := isTerminal(env.Stdin)
	in := bufio.NewScanner(env.Stdin)
	in.Buffer(make([]byte, 0, 4096), echo.MaxMessage)
	for {
		if interactive {
			fmt.Fprint(env.Stdout, "> ")
		}
		if !in.Scan() {
			if interactive {
				fmt.Fprintln(env.Stdout) // Ctrl-D: end the prompt's line
			}
			return in.Err()
		}
		line := in.Bytes()
		if len(line) == 0 {
			if interactive {
				return nil
			}
			continue
		}
		if err := send(line); err != nil {
			return err
		}
	}
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// notASocket reports whether a Unix transport's address is a file that is
// not a socket, which connect(2) also answers with ECONNREFUSED.
func notASocket(sock socket) bool {
	if !transports.IsUnix(sock.t.Spec().Name) || transports.IsAbstract(sock.addr) {
		return false
	}
	fi, err := os.Stat(sock.addr)
	return err == nil && fi.Mode().Type() != fs.ModeSocket
}

// noServer says in one line why there is no answer: nothing listening, no
// socket file, or no reply in time.
func noServer(sock socket, err error) error {
	var why string
	switch {
	case errors.Is(err, syscall.ECONNREFUSED) && notASocket(sock):
		why = "that path is not a socket"
	case errors.Is(err, syscall.ECONNREFUSED):
		why = "connection refused: is 'socklab serve --transport " + sock.t.Spec().Name + "' running?"
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOENT):
		why = "no such socket file: is 'socklab serve --transport " + sock.t.Spec().Name + "' running?"
	case errors.Is(err, echo.ErrNoReply):
		why = err.Error() + ": is 'socklab serve --transport " + sock.t.Spec().Name + "' running?"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		why = "timed out"
	default:
		return fmt.Errorf("%s: %w", sock, err)
	}
	return fmt.Errorf("%s: %s", sock, why)
}
