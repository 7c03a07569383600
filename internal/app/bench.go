package app

import (
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/socklab/socklab/bench"
	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/transports"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

func benchCommand(env Env) *cli.Command {
	var flags []cli.Flag
	for _, f := range socketFlags() {
		switch f.Names()[0] {
		case "trace":
			continue // a line per socket call is no way to measure speed
		case "transport":
			tf := f.(*cli.StringFlag)
			tf.Value = "all"
			tf.Usage = "socket kind: one, a comma list, or all (" + strings.Join(transports.Names(), ", ") + ")"
		case "api":
			af := f.(*cli.StringFlag)
			af.Usage = "implementation: one of " + strings.Join(transports.APIs(), ", ") + ", or all"
		case "addr":
			af := f.(*cli.StringFlag)
			af.Usage = "drive a running server at this address (one --transport) instead of starting one in process"
		}
		flags = append(flags, f)
	}
	flags = append(flags,
		&cli.StringFlag{Name: "clients", Aliases: []string{"c"}, Value: "1,16,64", Usage: "concurrent clients, or a comma list of counts to run each"},
		&cli.DurationFlag{Name: "duration", Aliases: []string{"d"}, Value: 2 * time.Second, Usage: "how long each row sends (split between its --rounds)"},
		&cli.IntFlag{Name: "messages", Aliases: []string{"n"}, Usage: "messages per client in each row (split between its rounds), instead of --duration"},
		&cli.IntFlag{Name: "size", Aliases: []string{"s"}, Value: 64, Usage: "bytes per message"},
		&cli.DurationFlag{Name: "timeout", Value: bench.DefaultTimeout, Usage: "longest wait for a connect or a reply; a datagram unanswered by then is counted lost"},
		&cli.BoolFlag{Name: "bare", Usage: "drive the bare reference echo (no clock, no logs, no limits) instead of socklab's server"},
		&cli.BoolFlag{Name: "vs-bare", Usage: "drive socklab's server and the bare echo in turn, and report socklab's rate relative to bare"},
		&cli.IntFlag{Name: "rounds", DefaultText: "1; with --vs-bare one per 100ms of --duration, at least 8", Usage: "short runs merged into each row, alternating servers under --vs-bare"},
		&cli.IntFlag{Name: "conns", Usage: "instead: hold this many connections to a 'socklab serve' child process and report its memory per connection"},
		&cli.Float64Flag{Name: "rss-target", Value: bench.DefaultTargetKiB, Usage: "with --conns: the server memory per connection (KiB) the report calls ok"},
		&cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table"},
	)
	return &cli.Command{
		Name:  "bench",
		Usage: "measure the echo: request rate and latency per transport, against the bare echo, memory per connection",
		Description: "Starts a server in process (or drives --addr), connects --clients clients that each send a\n" +
			"message and wait for its reply, over and over, and reports messages/s, MB/s and latency\n" +
			"percentiles per transport. --vs-bare also runs the bare reference echo and gives the ratio.\n" +
			"--conns N holds N connections to a 'socklab serve' child process and reports its memory.",
		Flags:  flags,
		Action: func(c *cli.Context) error { return runBench(c, env) },
	}
}

// benchArgs is the checked command line of bench.
type benchArgs struct {
	apis, names []string
	clients     []int
	servers     []string
	rounds      int
}

func parseBench(c *cli.Context) (benchArgs, error) {
	var a benchArgs
	var err error
	if a.apis, err = parseAPIs(c.String("api")); err != nil {
		return a, err
	}
	if a.names, err = parseTransports(c.String("transport")); err != nil {
		return a, err
	}
	if a.clients, err = parseCounts(c.String("clients")); err != nil {
		return a, err
	}
	if err := oneOf("framing", c.String("framing"), string(echo.Chunk), string(echo.Line)); err != nil {
		return a, err
	}
	if err := inRange("size", c.Int("size"), 1, 1<<20); err != nil {
		return a, err
	}
	if c.Duration("duration") <= 0 {
		return a, usagef("--duration must be positive, not %s", c.Duration("duration"))
	}
	if c.Duration("timeout") <= 0 {
		return a, usagef("--timeout must be positive, not %s", c.Duration("timeout"))
	}
	if err := inRange("messages", c.Int("messages"), 0, 1<<30); err != nil {
		return a, err
	}
	if c.IsSet("messages") && c.IsSet("duration") {
		return a, usagef("--messages and --duration are either-or: give one")
	}
	if c.IsSet("messages") && c.Int("messages") == 0 {
		return a, usagef("--messages must be at least 1")
	}
	if c.Bool("bare") && c.Bool("vs-bare") {
		return a, usagef("--bare and --vs-bare are either-or: give one")
	}
	if err := inRange("rounds", c.Int("rounds"), 0, 1000); err != nil {
		return a, err
	}
	a.rounds = c.Int("rounds")
	if a.rounds == 0 {
		a.rounds = 1
		if c.Bool("vs-bare") {
			a.rounds = vsBareRounds(c.Duration("duration"), c.IsSet("messages"))
		}
	}
	switch {
	case c.Bool("vs-bare"):
		a.servers = []string{bench.Socklab, bench.Bare}
	case c.Bool("bare"):
		a.servers = []string{bench.Bare}
	case c.String("addr") != "":
		a.servers = []string{bench.External}
	default:
		a.servers = []string{bench.Socklab}
	}
	if c.String("addr") != "" {
		if len(a.names) != 1 || len(a.apis) != 1 {
			return a, usagef("--addr drives one server: give one --transport (and one --api), not %s", c.String("transport"))
		}
		if c.Bool("bare") || c.Bool("vs-bare") {
			return a, usagef("--addr drives a running server; --bare and --vs-bare start their own")
		}
	}
	for _, name := range a.names {
		t, err := transports.Lookup(a.apis[0], name)
		if err != nil {
			continue // reported as skipped, in its row
		}
		if limit := bench.MaxSize(t); limit > 0 && c.Int("size") > limit {
			return a, usagef("--size %d is more than a %s request can be and still have room for its reply (%d)", c.Int("size"), name, limit)
		}
	}
	return a, nil
}

func parseAPIs(s string) ([]string, error) {
	if s == "" {
		return []string{transports.APINet}, nil
	}
	if s == "all" {
		return transports.APIs(), nil
	}
	if !slices.Contains(transports.APIs(), s) {
		return nil, usagef("unknown API %q (valid: %s, all)", s, strings.Join(transports.APIs(), ", "))
	}
	return []string{s}, nil
}

func parseTransports(s string) ([]string, error) {
	if s == "" || s == "all" {
		return transports.Names(), nil
	}
	var names []string
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		if !slices.Contains(transports.Names(), n) {
			return nil, usagef("unknown transport %q (valid: %s, all)", n, strings.Join(transports.Names(), ", "))
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names, nil
}

func parseCounts(s string) ([]int, error) {
	var counts []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > bench.MaxClients {
			return nil, usagef("--clients takes counts between 1 and %d, comma-separated, not %q", bench.MaxClients, s)
		}
		if !slices.Contains(counts, n) {
			counts = append(counts, n)
		}
	}
	return counts, nil
}

func runBench(c *cli.Context, env Env) error {
	if c.Args().Present() {
		return usagef("bench takes no arguments, not %q", c.Args().First())
	}
	if c.IsSet("conns") {
		return runConns(c, env)
	}
	a, err := parseBench(c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	most := uint64(slices.Max(a.clients))
	if err := bench.RaiseNoFile(4*most+256, most+64); err != nil {
		return err
	}

	plan := bench.Plan{
		APIs: a.apis, Transports: a.names, Clients: a.clients, Servers: a.servers, Rounds: a.rounds,
		Base: bench.Config{
			Addr:     c.String("addr"),
			Echo:     serveDefaults(env),
			Framing:  echo.Framing(c.String("framing")),
			Duration: c.Duration("duration"),
			Messages: c.Int("messages"),
			Size:     c.Int("size"),
			Timeout:  c.Duration("timeout"),
		},
	}
	bar := newBar(env, plan.Runs())
	if bar != nil {
		plan.Progress = func(done, total int, next string) {
			bar.Describe(next)
			bar.Set(done)
			if done == total {
				bar.Finish()
			}
		}
	}
	results, runErr := plan.Run(ctx)
	if len(results) == 0 && runErr != nil {
		return benchFailed(c, a, runErr)
	}
	rep := bench.Report{
		Machine: bench.ThisMachine(),
		Setup: bench.Setup{
			Size: c.Int("size"), Framing: c.String("framing"), Rounds: plan.RoundsPerRow(),
			Addr: c.String("addr"), Note: benchNote(c, a),
		},
		Runs: results,
	}
	if plan.Base.Messages > 0 {
		rep.Setup.Messages = plan.Base.Messages
	} else {
		rep.Setup.Seconds = plan.Base.Duration.Seconds()
	}
	if err := writeReport(c, env, rep); err != nil {
		return err
	}
	if runErr != nil {
		return benchFailed(c, a, runErr)
	}
	return servedNobody(results)
}

// servedNobody is the error for a run in which no client got a single
// reply: the table shows zeros, and the exit status must not say success.
func servedNobody(results []bench.Result) error {
	for _, r := range results {
		if r.Skipped != "" || r.Served > 0 {
			continue
		}
		why := fmt.Sprintf("%d lost", r.Lost)
		if r.FirstError != "" {
			why = r.FirstError
		}
		return fmt.Errorf("no client got a reply from %s %s %s (clients: %d): %s", r.API, r.Transport, r.Server, r.Clients, why)
	}
	return nil
}

func benchFailed(c *cli.Context, a benchArgs, err error) error {
	if a.servers[0] == bench.External {
		t, lerr := transports.Lookup(a.apis[0], a.names[0])
		if lerr == nil {
			return noServer(socket{t: t, addr: c.String("addr")}, err)
		}
	}
	return err
}

func benchNote(c *cli.Context, a benchArgs) string {
	if a.servers[0] == bench.External {
		if t, err := transports.Lookup(a.apis[0], a.names[0]); err == nil && t.Spec().Kind == transports.Datagram && !transports.IsUnix(t.Spec().Name) {
			return "'socklab serve' answers each source IP at most --udp-rate datagrams/s (1000 by default): start it with --udp-rate 0 to measure it"
		}
		return ""
	}
	if slices.Contains(a.servers, bench.Socklab) {
		return "the socklab server runs with 'socklab serve's defaults, but a datagram rate limit too high to drop anything (all clients share one IP)"
	}
	return ""
}

func writeReport(c *cli.Context, env Env, rep bench.Report) error {
	if c.Bool("json") {
		return rep.WriteJSON(env.Stdout)
	}
	return rep.WriteTable(env.Stdout)
}

// newBar is a progress bar on stderr when stderr is a terminal, else nil.
func newBar(env Env, total int) *progressbar.ProgressBar {
	f, ok := env.Stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription("starting"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	)
}

func runConns(c *cli.Context, env Env) error {
	for _, name := range []string{"addr", "clients", "duration", "messages", "bare", "vs-bare", "rounds"} {
		if c.IsSet(name) {
			return usagef("--conns measures a server of its own; it takes no --%s", name)
		}
	}
	if err := inRange("conns", c.Int("conns"), 1, 1<<20); err != nil {
		return err
	}
	if err := inRange("size", c.Int("size"), 1, 1<<20); err != nil {
		return err
	}
	if c.Float64("rss-target") <= 0 {
		return usagef("--rss-target must be positive, not %v", c.Float64("rss-target"))
	}
	apis, err := parseAPIs(c.String("api"))
	if err != nil {
		return err
	}
	names := []string{"tcp"}
	if c.IsSet("transport") && c.String("transport") != "all" {
		if names, err = parseTransports(c.String("transport")); err != nil {
			return err
		}
	}
	for _, n := range names {
		if t, err := transports.Lookup(apis[0], n); err == nil && !t.Spec().Kind.Connected() {
			return usagef("--conns needs a connected transport (tcp, tcp6, unix, unixpacket), not %s", n)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this program to run its server: %w", err)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep := bench.Report{Machine: bench.ThisMachine()}
	bar := newBar(env, len(apis)*len(names))
	for _, api := range apis {
		for _, name := range names {
			if bar != nil {
				bar.Describe(fmt.Sprintf("%s %s: %d connections", api, name, c.Int("conns")))
			}
			t, err := transports.Lookup(api, name)
			if err != nil {
				rep.Conns = append(rep.Conns, bench.ConnsResult{Transport: name, API: api, Conns: c.Int("conns"), Skipped: err.Error()})
				continue
			}
			res, err := bench.MeasureConns(ctx, bench.ConnsConfig{
				Transport: t, Conns: c.Int("conns"), Size: c.Int("size"),
				Timeout: max(c.Duration("timeout"), 10*time.Second), TargetKiB: c.Float64("rss-target"),
				Server: bench.ServeCommand(exe, t),
			})
			if err != nil {
				return fmt.Errorf("%s %s: %w", api, name, err)
			}
			rep.Conns = append(rep.Conns, res)
			if bar != nil {
				bar.Add(1)
			}
		}
	}
	if bar != nil {
		bar.Finish()
	}
	return writeReport(c, env, rep)
}

// vsBareRounds is how many rounds --vs-bare makes by default. Many short
// rounds beat a few long ones: one 100ms run of a single client differs
// from the next by ±10% on a busy machine, whatever the server, and the
// median of many pairs is what averages that out (measured: medians of 20
// rounds of 300ms spread over ±4%, of 60 rounds of 100ms over ±1%).
func vsBareRounds(d time.Duration, byMessages bool) int {
	if byMessages {
		return 8
	}
	return min(1000, max(8, int(d/(100*time.Millisecond))))
}

// serveDefaults is the echo configuration 'socklab serve' runs with when
// given no flags, read from serve's own flag defaults so that the bench
// measures the same server. The datagram rate limit is kept on but set too
// high to drop anything: every bench client comes from one address.
func serveDefaults(env Env) echo.Config {
	var cfg echo.Config
	for _, f := range serveCommand(env).Flags {
		switch f := f.(type) {
		case *cli.IntFlag:
			switch f.Name {
			case "bufsize":
				cfg.BufSize = f.Value
			case "max-line":
				cfg.MaxLine = f.Value
			case "max-conns":
				cfg.MaxConns = f.Value
			}
		case *cli.DurationFlag:
			switch f.Name {
			case "shutdown-timeout":
				cfg.ShutdownTimeout = f.Value
			case "idle-timeout":
				cfg.IdleTimeout = f.Value
			case "write-timeout":
				cfg.WriteTimeout = f.Value
			}
		case *cli.BoolFlag:
			if f.Name == "allow-low-ports" {
				cfg.Guard.AllowLowPorts = f.Value
			}
		}
	}
	cfg.Guard.Rate = 1e9
	cfg.Guard.Burst = 1e9
	return cfg
}
