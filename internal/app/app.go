// Package app is socklab's command line: it turns flags into calls on the
// transports and echo packages and errors into exit codes.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed: no server, a refused connection
	exitUsage = 2 // the command line was wrong
)

// usageError marks a mistake on the command line (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// Env is what a run of socklab sees of the world, so that tests can run it
// in process.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Signals, when not nil, replaces the process's SIGINT and SIGTERM for
	// serve: each value sent is one signal.
	Signals <-chan struct{}
}

// Main runs socklab with args (args[0] is the program name) and returns the
// exit code. Errors are printed as one line on stderr.
func Main(ctx context.Context, args []string, env Env) int {
	// urfave/cli v2 keeps the --help flag in a package variable that every
	// run writes to while it parses, so parsing is one run at a time. The
	// lock is let go once a command's action starts (see leaf), so that a
	// serve in process does not hold it.
	parsing.Lock()
	var once sync.Once
	parsed := func() { once.Do(parsing.Unlock) }
	defer parsed()
	app := newApp(env)
	for _, cmd := range app.Commands {
		leaf(cmd, parsed)
	}
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(env.Stderr, "socklab: %s\n", oneLine(err.Error()))
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitError
}

var parsing sync.Mutex

// leaf makes every command's action call parsed first: by then urfave/cli
// has parsed all the flags of that command line, subcommands included.
func leaf(cmd *cli.Command, parsed func()) {
	for _, sub := range cmd.Subcommands {
		leaf(sub, parsed)
	}
	if cmd.Action == nil {
		return
	}
	action := cmd.Action
	cmd.Action = func(c *cli.Context) error {
		parsed()
		return action(c)
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func newApp(env Env) *cli.App {
	app := &cli.App{
		Name:  "socklab",
		Usage: "a sockets lab: the timestamp echo of 'Network Programming in Python', in Go, over seven transports",
		Description: "Start with 'socklab demo', then follow 'socklab lessons'.\n" +
			"Run a server in one terminal ('socklab serve') and talk to it from another ('socklab client').",
		Reader:          env.Stdin,
		Writer:          env.Stdout,
		ErrWriter:       env.Stderr,
		HideHelpCommand: true,
		// urfave/cli would call os.Exit itself; Main decides the exit code.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   onUsageError,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("unknown command %q (commands: serve, client, demo, lessons, bench)", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		Commands: []*cli.Command{
			serveCommand(env),
			clientCommand(env),
			demoCommand(env),
			lessonsCommand(env),
			benchCommand(env),
		},
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = onUsageError
	}
	return app
}

// onUsageError turns a flag parsing error into one line and exit 2, where
// urfave/cli would print the whole help. A value that does not parse is
// named with the flag's two dashes and the form it takes.
func onUsageError(c *cli.Context, err error, _ bool) error {
	m := badFlagValue.FindStringSubmatch(err.Error())
	if m == nil {
		return usageError{err}
	}
	value, name := m[1], m[2]
	form := ""
	var flags []cli.Flag
	if c.Command != nil {
		flags = c.Command.Flags
	}
	for _, f := range slices.Concat(flags, c.App.Flags) {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		switch f.(type) {
		case *cli.DurationFlag:
			form = ": give a duration such as 2s, 500ms or 1m30s"
		case *cli.IntFlag:
			form = ": give a whole number"
		case *cli.Float64Flag:
			form = ": give a number"
		}
		name = f.Names()[0]
		break
	}
	return usagef("--%s: %q is not a valid value%s", name, value, form)
}

// badFlagValue is how the flag package reports a value that does not parse.
var badFlagValue = regexp.MustCompile(`^invalid value "(.*)" for flag -([\w-]+): `)
