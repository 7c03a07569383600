package app

import (
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"

	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/transports"
	"github.com/urfave/cli/v2"
)

// socketFlags are the flags that pick and tune a socket, shared by serve,
// client and bench. Each call returns new flag values: urfave/cli keeps
// parsed state in them.
func socketFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "transport", Aliases: []string{"t"}, Value: "tcp", EnvVars: []string{"SOCKLAB_TRANSPORT"},
			Usage: "socket kind: " + strings.Join(transports.Names(), ", ")},
		&cli.StringFlag{Name: "addr", Aliases: []string{"a"}, EnvVars: []string{"SOCKLAB_ADDR"},
			Usage: "host:port, [v6]:port, /socket/path or @abstract (default: 127.0.0.1:21567 for tcp and udp, [::1]:21567 for tcp6 and udp6, $XDG_RUNTIME_DIR/socklab/<transport>.sock for the Unix ones)"},
		&cli.StringFlag{Name: "api", Value: transports.APINet, EnvVars: []string{"SOCKLAB_API"},
			Usage: "implementation: 'net' (Go's net package) or 'syscall' (the raw BSD socket calls)"},
		&cli.StringFlag{Name: "framing", Value: string(echo.Chunk),
			Usage: "stream requests: 'chunk' (one reply per read, as the article) or 'line' (one reply per \\n)"},
		&cli.BoolFlag{Name: "trace", Usage: "print every socket call as it happens, in the article's words"},
	}
}

// socket is the resolved choice of socketFlags.
type socket struct {
	t       transports.Transport
	addr    string
	framing echo.Framing
	trace   bool
}

func parseSocket(c *cli.Context) (socket, error) {
	api, name := c.String("api"), c.String("transport")
	// An empty environment variable means the default, not an error.
	if api == "" {
		api = transports.APINet
	}
	if name == "" {
		name = "tcp"
	}
	t, err := transports.Lookup(api, name)
	if err != nil {
		return socket{}, usageError{err}
	}
	framing := echo.Framing(c.String("framing"))
	if framing != echo.Chunk && framing != echo.Line {
		return socket{}, usagef("unknown framing %q (valid: chunk, line)", framing)
	}
	addr := c.String("addr")
	if addr == "" {
		addr = t.DefaultAddr()
	}
	return socket{t: t, addr: addr, framing: framing, trace: c.Bool("trace")}, nil
}

func (s socket) String() string { return s.t.Spec().Name + " " + s.addr }

// badAddr marks an address the resolver could not make sense of as a
// command-line mistake (exit 2), and says what an IP transport expects.
func badAddr(sock socket, err error) error {
	var ae *net.AddrError
	if !errors.As(err, &ae) {
		return err
	}
	spec := sock.t.Spec()
	switch spec.Family {
	case "AF_INET":
		return usagef("%v (%s takes an IPv4 host:port such as 127.0.0.1:%d)", err, spec.Name, transports.DefaultPort)
	case "AF_INET6":
		return usagef("%v (%s takes an IPv6 [host]:port such as [::1]:%d)", err, spec.Name, transports.DefaultPort)
	}
	return usageError{err}
}

func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, usagef("unknown log level %q (valid: debug, info, warn, error)", s)
	}
	return l, nil
}

func oneOf(name, value string, valid ...string) error {
	if slices.Contains(valid, value) {
		return nil
	}
	return usagef("unknown %s %q (valid: %s)", name, value, strings.Join(valid, ", "))
}

func inRange(name string, v, lo, hi int) error {
	if v < lo || v > hi {
		return usagef("--%s must be between %d and %d, not %d", name, lo, hi, v)
	}
	return nil
}
