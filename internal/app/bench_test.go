package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/socklab/socklab/bench"
	"github.com/socklab/socklab/transports"
)

func benchCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Main(context.Background(), append([]string{"socklab", "bench"}, args...), Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
	return code, out.String(), errOut.String()
}

// The default output is an aligned table: the machine, the setup, a header
// and one row per transport, every transport answered. Nothing on stderr:
// no progress bar when stderr is not a terminal.
func TestBenchTable(t *testing.T) {
	code, stdout, stderr := benchCmd("--transport", "all", "--clients", "2", "--messages", "10")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if !regexp.MustCompile(`(?m)^machine: .+, \d+ cores \(GOMAXPROCS \d+\), go1\.\S+ \w+/\w+`).MatchString(stdout) {
		t.Errorf("no machine line:\n%s", stdout)
	}
	lines := strings.Split(stdout, "\n")
	var header []string
	rows := map[string][]string{}
	for _, l := range lines {
		f := strings.Fields(l)
		switch {
		case len(f) > 0 && f[0] == "TRANSPORT":
			header = f
		case header != nil && len(f) > 0:
			rows[f[0]] = f
		}
	}
	wantHeader := "TRANSPORT API SERVER CLIENTS SERVED SIZE MESSAGES MSG/S MB/S VS TCP P50 P90 P99 MAX ERRORS LOST"
	if strings.Join(header, " ") != wantHeader {
		t.Fatalf("header %q, want %q", strings.Join(header, " "), wantHeader)
	}
	// Columns line up: each row's fields start where the header's do.
	hline := lines[slicesIndex(lines, func(s string) bool { return strings.HasPrefix(s, "TRANSPORT") })]
	col := strings.Index(hline, "MESSAGES")
	for _, name := range transports.Names() {
		r, ok := rows[name]
		if !ok {
			t.Errorf("no row for %s", name)
			continue
		}
		if r[4] == "-" && strings.Contains(strings.Join(r, " "), "skipped") {
			continue // no IPv6 here
		}
		if len(r) != len(header)-1 { // "VS TCP" is one column of two words
			t.Errorf("%s: %d fields, want %d: %q", name, len(r), len(header)-1, r)
			continue
		}
		if r[1] != "net" || r[2] != "socklab" || r[3] != "2" || r[4] != "2" || r[6] != "20" || r[14] != "0" || r[15] != "0" {
			t.Errorf("%s: row %q", name, r)
		}
		for _, l := range lines {
			if strings.HasPrefix(l, name+" ") && (len(l) <= col || l[col-1] != ' ' || l[col] == ' ') {
				t.Errorf("%s: MESSAGES is not aligned under its header:\n%s\n%s", name, hline, l)
			}
		}
	}
	if rows["tcp"][9] != "1.00" {
		t.Errorf("tcp relative to tcp is %s", rows["tcp"][9])
	}
}

func slicesIndex(s []string, f func(string) bool) int {
	for i, v := range s {
		if f(v) {
			return i
		}
	}
	return -1
}

// --json is for machines: it parses, and holds what the table holds.
func TestBenchJSON(t *testing.T) {
	code, stdout, stderr := benchCmd("--transport", "tcp,udp,unixpacket", "--clients", "1,3", "--messages", "12", "--vs-bare", "--rounds", "6", "--json")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if rep.Machine.Cores < 1 || rep.Machine.Go == "" || rep.Machine.CPU == "" || rep.Setup.Size != 64 || rep.Setup.Rounds != 6 {
		t.Errorf("machine or setup missing: %+v %+v", rep.Machine, rep.Setup)
	}
	if len(rep.Runs) != 3*2*2 {
		t.Fatalf("%d runs, want 12", len(rep.Runs))
	}
	for _, r := range rep.Runs {
		if r.Messages != int64(r.Clients)*12 || r.Errors != 0 || r.Rate <= 0 || r.P99 <= 0 || r.VsTCP == nil {
			t.Errorf("%+v", r)
		}
		if (r.Server == bench.Socklab) != (r.VsBare != nil) || (r.VsBare != nil) != (len(r.VsBareCI) == 2) {
			t.Errorf("%s %s: vs_bare %v, interval %v", r.Transport, r.Server, r.VsBare, r.VsBareCI)
		}
	}
	if !strings.Contains(stdout, `"vs_bare_ci95": [`) {
		t.Errorf("no vs_bare_ci95 in the JSON:\n%s", stdout)
	}
}

// With --vs-bare and no --rounds, a row makes one round per 100ms of its
// duration, and never fewer than 8.
func TestVsBareRounds(t *testing.T) {
	for _, tt := range []struct {
		d          time.Duration
		byMessages bool
		want       int
	}{
		{2 * time.Second, false, 20},
		{12 * time.Second, false, 120},
		{300 * time.Millisecond, false, 8},
		{time.Hour, false, 1000},
		{0, true, 8},
	} {
		if got := vsBareRounds(tt.d, tt.byMessages); got != tt.want {
			t.Errorf("vsBareRounds(%s, messages=%v) = %d, want %d", tt.d, tt.byMessages, got, tt.want)
		}
	}
}

// --bare drives the bare echo; --addr drives a running server.
func TestBenchBareAndAddr(t *testing.T) {
	code, stdout, _ := benchCmd("--bare", "--transport", "unix", "--clients", "2", "--messages", "5", "--json")
	if code != 0 || !strings.Contains(stdout, `"server": "bare"`) {
		t.Fatalf("exit %d:\n%s", code, stdout)
	}
	srv, err := bench.StartBare(t.Context(), mustLookup(t, "tcp"), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := benchCmd("--addr", srv.Addr.String(), "--transport", "tcp", "--clients", "2", "--messages", "5")
	if code != 0 || !regexp.MustCompile(`(?m)^tcp\s+net\s+external\s+2\s+2\s+64\s+10\s`).MatchString(stdout) {
		t.Fatalf("exit %d, stderr %q:\n%s", code, stderr, stdout)
	}
}

// A run in which no client got a reply prints its table and exits 1 with
// one line saying so: zeros are not a success.
func TestBenchServedNobody(t *testing.T) {
	silent, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	code, stdout, stderr := benchCmd("--addr", silent.LocalAddr().String(), "--transport", "udp", "--messages", "2", "--clients", "1", "--timeout", "100ms")
	if code != 1 || !regexp.MustCompile(`(?m)^udp\s+net\s+external\s+1\s+0\s`).MatchString(stdout) {
		t.Fatalf("exit %d, want 1 and the table:\n%s", code, stdout)
	}
	if want := "socklab: no client got a reply from net udp external (clients: 1): 2 lost\n"; stderr != want {
		t.Fatalf("stderr %q, want %q", stderr, want)
	}
}

func mustLookup(t *testing.T, name string) transports.Transport {
	tr, err := transports.Lookup(transports.APINet, name)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// A bad command line is one line and exit 2; no server is one line and
// exit 1.
func TestBenchExitCodes(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"--transport", "tcp,x25"}, 2, `^socklab: unknown transport "x25" \(valid: tcp, tcp6, udp, udp6, unix, unixgram, unixpacket, all\)\n$`},
		{[]string{"--api", "winsock"}, 2, `^socklab: unknown API "winsock" \(valid: net.*, all\)\n$`},
		{[]string{"--clients", "0"}, 2, `^socklab: --clients takes counts between 1 and 10000, comma-separated, not "0"\n$`},
		{[]string{"--clients", "1,,4"}, 2, `^socklab: --clients takes counts`},
		{[]string{"--size", "0"}, 2, `^socklab: --size must be between 1 and 1048576, not 0\n$`},
		{[]string{"--size", "65481", "--transport", "udp"}, 2, `^socklab: --size 65481 is more than a udp request can be and still have room for its reply \(65480\)\n$`},
		{[]string{"--size", "65501", "--transport", "tcp,udp6"}, 2, `^socklab: --size 65501 is more than a udp6 request can be and still have room for its reply \(65500\)\n$`},
		{[]string{"--duration", "0s"}, 2, `^socklab: --duration must be positive, not 0s\n$`},
		{[]string{"--duration", "1s", "--messages", "5"}, 2, `^socklab: --messages and --duration are either-or`},
		{[]string{"--bare", "--vs-bare"}, 2, `^socklab: --bare and --vs-bare are either-or`},
		{[]string{"--addr", "127.0.0.1:1"}, 2, `^socklab: --addr drives one server: give one --transport`},
		{[]string{"--addr", "127.0.0.1:1", "--transport", "tcp", "--vs-bare"}, 2, `^socklab: --addr drives a running server`},
		{[]string{"--framing", "words"}, 2, `^socklab: unknown framing "words" \(valid: chunk, line\)\n$`},
		{[]string{"--rounds", "-1"}, 2, `^socklab: --rounds must be between 0 and 1000, not -1\n$`},
		{[]string{"--trace"}, 2, `^socklab: flag provided but not defined: -trace\n$`},
		{[]string{"extra"}, 2, `^socklab: bench takes no arguments, not "extra"\n$`},
		{[]string{"--conns", "0"}, 2, `^socklab: --conns must be between 1 and 1048576, not 0\n$`},
		{[]string{"--conns", "10", "--transport", "udp"}, 2, `^socklab: --conns needs a connected transport`},
		{[]string{"--conns", "10", "--clients", "4"}, 2, `^socklab: --conns measures a server of its own; it takes no --clients\n$`},
		{[]string{"--addr", closed, "--transport", "tcp", "--clients", "1", "--messages", "1"}, 1, `^socklab: tcp 127\.0\.0\.1:\d+: connection refused: is 'socklab serve --transport tcp' running\?\n$`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := benchCmd(tt.args...)
			checkFailure(t, code, stdout, stderr, tt.code, tt.stderr)
		})
	}
}

// The in-process server is 'socklab serve' as it starts with no flags.
func TestBenchServesWithServeDefaults(t *testing.T) {
	cfg := serveDefaults(Env{})
	if cfg.BufSize != 1024 || cfg.IdleTimeout <= 0 || cfg.WriteTimeout <= 0 || cfg.MaxConns <= 0 || cfg.ShutdownTimeout <= 0 {
		t.Errorf("serve's defaults were not all found: %+v", cfg)
	}
	if cfg.Guard.Rate < 1e6 {
		t.Errorf("the datagram rate limit would drop the bench's datagrams: %v/s", cfg.Guard.Rate)
	}
}
