package peers_test

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/socklab/socklab/internal/testpeer"
	"github.com/socklab/socklab/transports"

	"github.com/socklab/socklab/internal/testkit"
)

// straceCase is one transport's server and client under strace, with the
// system calls each must make on its sockets, in order.
type straceCase struct {
	api, transport, addr string
	// drain: the server is stopped with a second client connected (see
	// testStrace), and ends by closing the listening socket, shutting
	// down the reading side of the connection, reading its end and
	// closing it.
	drain          bool
	server, client []string
}

var straceCases = []straceCase{
	{"net", "tcp", "127.0.0.1:0", true,
		[]string{"socket", "bind", "listen", "accept4", "read", "write", "read", "close",
			"accept4", "close", "shutdown", "read", "close"},
		[]string{"socket", "connect", "write", "read", "close"}},
	{"net", "udp", "127.0.0.1:0", false,
		[]string{"socket", "bind", "recvfrom", "sendto", "close"},
		[]string{"socket", "connect", "write", "read", "close"}},
	{"net", "unix", "{dir}/s.sock", true,
		[]string{"socket", "bind", "listen", "accept4", "read", "write", "read", "close",
			"accept4", "close", "shutdown", "read", "close"},
		[]string{"socket", "connect", "write", "read", "close"}},
	// The syscall API also names the options it sets, the addresses it
	// reads back and the socket file's mode and removal. It traces each
	// call once made, so a wait for its line is a wait for the call.
	{"syscall", "tcp", "127.0.0.1:0", false,
		[]string{"socket", "setsockopt", "setsockopt", "bind", "listen", "getsockname", "accept4", "getsockname", "read", "write", "read", "close", "close"},
		[]string{"socket", "setsockopt", "connect", "getsockname", "write", "read", "close"}},
	{"syscall", "udp", "127.0.0.1:0", false,
		[]string{"socket", "bind", "getsockname", "recvfrom", "sendto", "close"},
		[]string{"socket", "connect", "getsockname", "write", "read", "close"}},
	{"syscall", "unix", "{dir}/s.sock", false,
		[]string{"socket", "bind", "fchmodat", "listen", "getsockname", "accept4", "getsockname", "read", "write", "read", "close", "unlinkat", "close"},
		[]string{"socket", "connect", "getsockname", "write", "read", "close"}},
}

// articleWords are the steps --trace may print for each system call: a
// write is "sendall" on a stream (it loops until all is sent) and may be
// "send" for a datagram (one call sends it whole).
var articleWords = map[string][]string{
	"socket": {"socket"}, "bind": {"bind"}, "listen": {"listen"}, "accept4": {"accept"}, "accept": {"accept"},
	"connect": {"connect"}, "read": {"recv"}, "recvfrom": {"recvfrom"}, "write": {"sendall", "send"}, "sendto": {"sendto"},
	"close": {"close"}, "shutdown": {"shutdown"},
	"unlinkat": {"unlink"}, "unlink": {"unlink"}, "fchmodat": {"chmod"}, "chmod": {"chmod"},
	"setsockopt": {"setsockopt"}, "getsockname": {"getsockname"}, "getsockopt": {"getsockopt"}, "getpeername": {"getpeername"},
}

// untraced are the calls an API makes on its sockets without a --trace
// line of their own: Go's net package sets options and reads addresses
// back unseen; the syscall API's connect waits with getsockopt(SO_ERROR)
// and getpeername, and golang.org/x/sys asks getsockopt(SO_PROTOCOL)
// inside Getsockname.
var untraced = map[string][]string{
	// It also sets the socket file's mode, and UnixListener.Close
	// removes the file, unseen.
	"net":     {"setsockopt", "getsockopt", "getsockname", "getpeername", "fchmodat", "chmod", "unlinkat", "unlink"},
	"syscall": {"getsockopt", "getpeername"},
}

// TestStraceMatchesTrace runs 'socklab serve' and 'socklab client' with
// --trace under 'strace -f', and checks that the system calls on their
// sockets are the expected ones, in the order --trace names them.
func TestStraceMatchesTrace(t *testing.T) {
	strace := testpeer.Need(t, "strace", "strace")
	if out, err := exec.Command(strace, "-f", "-o", os.DevNull, "true").CombinedOutput(); err != nil {
		testpeer.Missing(t, "strace cannot trace here (ptrace not permitted?): "+strings.TrimSpace(string(out)))
	}
	for _, c := range straceCases {
		if _, err := transports.Lookup(c.api, c.transport); err != nil {
			continue // an API this build does not have
		}
		t.Run(c.api+"/"+c.transport, func(t *testing.T) {
			t.Parallel()
			testStrace(t, strace, c)
		})
	}
}

func testStrace(t *testing.T, strace string, c straceCase) {
	dir := testkit.SocketDir(t)
	straced := func(out string, args ...string) *proc {
		argv, env := socklabCommand(t, args...)
		// -s 256: long enough to read --trace's own lines, which socklab
		// writes to stderr and strace sees as write(2, ...).
		return startProc(t, append([]string{strace, "-f", "-qq", "-s", "256", "-e", "signal=none",
			"-e", "trace=%network,read,write,close,chmod,fchmodat,unlink,unlinkat", "-o", out}, argv...), env)
	}
	addr := strings.ReplaceAll(c.addr, "{dir}", dir)
	args := []string{"serve", "--api", c.api, "--transport", c.transport, "--addr", addr, "--trace"}
	if c.drain {
		args = append(args, "--serial")
	}
	srv := straced(filepath.Join(dir, "server.strace"), args...)
	m, err := srv.stderr.waitFor(regexp.MustCompile(`msg=listening .*addr=(\S+)`), srv.done)
	if err != nil {
		t.Fatalf("%v\n%s", err, srv.describe())
	}
	cl := straced(filepath.Join(dir, "client.strace"), "client", "--api", c.api, "--transport", c.transport, "--addr", m[1], "--trace", "-m", "hello")
	if err := cl.wait(); err != nil {
		t.Fatalf("%v\n%s", err, cl.describe())
	}
	if err := checkReplies(cl.stdout.String(), "hello\n"); err != nil {
		t.Fatal(err)
	}

	// Wait until the server is done with the client: it replied (UDP)
	// or closed the connection.
	done := regexp.MustCompile(`trace: close .*close\(\d+\)`)
	switch {
	case c.transport == "udp":
		done = regexp.MustCompile(`trace: sendto `)
	case c.drain:
		// Go's net traces a close before making it, so that line is not
		// enough. A --serial server takes the next client only once the
		// last one's socket is closed and forgotten: the second client's
		// "connected" is the proof. Still connected when the server stops,
		// it shows the graceful end: shutdown(SHUT_RD), EOF, close.
		network := map[string]string{"tcp": "tcp4", "unix": "unix"}[c.transport]
		second, err := net.DialTimeout(network, m[1], deadline)
		if err != nil {
			t.Fatal(err)
		}
		defer second.Close()
		done = regexp.MustCompile(`(?s)msg=connected .*msg=connected `)
	}
	if _, err := srv.stderr.waitFor(done, srv.done); err != nil {
		t.Fatalf("%v\n%s", err, srv.describe())
	}
	// Stopped as Ctrl-C would: strace (with -o, as here) blocks SIGINT and
	// passes it on to socklab.
	syscall.Kill(-srv.cmd.Process.Pid, syscall.SIGINT)
	if err := srv.wait(); err != nil {
		t.Fatalf("%v\n%s", err, srv.describe())
	}

	for _, side := range []struct {
		name   string
		p      *proc
		strace string
		want   []string
	}{{"server", srv, "server.strace", c.server}, {"client", cl, "client.strace", c.client}} {
		calls, lines := socketCalls(t, filepath.Join(dir, side.strace), addr, untraced[c.api])
		t.Logf("%s %s, strace, the calls on its sockets:\n%s", c.transport, side.name, strings.Join(lines, "\n"))
		if !slices.Equal(calls, side.want) {
			t.Errorf("%s %s: strace shows %v on its sockets, want %v", c.transport, side.name, calls, side.want)
		}
		steps := traceSteps(side.p.stderr.String())
		same := len(steps) == len(calls)
		for i := 0; same && i < len(calls); i++ {
			same = slices.Contains(articleWords[calls[i]], steps[i])
		}
		if !same {
			t.Errorf("%s %s: strace shows %v, --trace prints %v\n%s", c.transport, side.name, calls, steps, side.p.stderr)
		}
	}
}

// traceSteps is the step names of --trace's lines, leaving out the two
// that end a wait without a system call: Go parks a blocked accept or
// recvfrom in epoll, and closing the socket (accept) or the shutdown's
// deadline (recvfrom) wakes it with no call made.
func traceSteps(stderr string) []string {
	var steps []string
	for line := range strings.Lines(stderr) {
		rest, ok := strings.CutPrefix(line, "trace: ")
		if !ok {
			continue
		}
		if strings.Contains(rest, "interrupted: ") || strings.Contains(rest, "i/o timeout") {
			continue
		}
		steps = append(steps, strings.Fields(rest)[0])
	}
	return steps
}

var (
	straceLine  = regexp.MustCompile(`^(\d+)\s+(.*)$`)
	resumedLine = regexp.MustCompile(`^<\.\.\. \w+ resumed>\s?(.*)$`)
	callLine    = regexp.MustCompile(`^(\w+)\((.*)\)\s+=\s+(-?\d+|\?)(.*)$`)
	traceSocket = regexp.MustCompile(`^2, "trace: socket .*?= (?:fd )?(\d+)`)
	firstFD     = regexp.MustCompile(`^(\d+)`)
)

// pathCall are the calls on a socket file, by its path.
var pathCall = map[string]bool{"chmod": true, "fchmodat": true, "unlink": true, "unlinkat": true}

type straceCall struct {
	name, args, rest, line string
	ret                    int
}

// socketCalls reads 'strace -f -o' output and returns the calls made on
// the program's own sockets, and their lines. Go's net package opens and
// closes probe sockets first (is IPv6 there? is MPTCP?); the program's
// socket is the one --trace announced ("socket ... = fd N", a write(2,
// ...) in the same strace): the last socket() that returned N before it.
// Calls the API makes without tracing them (untraced) are left out. The
// removal of the socket file at sockPath counts as a step too.
// Sockets from accept4 on it count too. Calls that failed with EAGAIN are
// left out: Go then waits in epoll and makes the same call again.
func socketCalls(t *testing.T, path, sockPath string, untraced []string) (names, lines []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var calls []straceCall
	pending := map[string]string{} // pid -> the start of an unfinished call
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		m := straceLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		pid, text := m[1], m[2]
		if start, ok := strings.CutSuffix(text, " <unfinished ...>"); ok {
			pending[pid] = start
			continue
		}
		if r := resumedLine.FindStringSubmatch(text); r != nil {
			text = pending[pid] + r[1]
			delete(pending, pid)
		}
		c := callLine.FindStringSubmatch(text)
		if c == nil {
			continue
		}
		ret, _ := strconv.Atoi(c[3])
		calls = append(calls, straceCall{name: c[1], args: c[2], ret: ret, rest: c[4], line: text})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	// The program's sockets, by the index of the socket() that made them.
	mine := map[int]bool{}
	lastSocket := map[int]int{}
	for i, c := range calls {
		switch {
		case c.name == "socket" && c.ret >= 0:
			lastSocket[c.ret] = i
		case c.name == "write":
			if m := traceSocket.FindStringSubmatch(c.args); m != nil {
				fd, _ := strconv.Atoi(m[1])
				if j, ok := lastSocket[fd]; ok {
					mine[j] = true
				}
			}
		}
	}
	open := map[int]bool{}
	for i, c := range calls {
		if mine[i] {
			open[c.ret] = true
			names, lines = append(names, c.name), append(lines, c.line)
			continue
		}
		if pathCall[c.name] && strings.Contains(c.args, strconv.Quote(sockPath)) && !slices.Contains(untraced, c.name) {
			names, lines = append(names, c.name), append(lines, c.line)
			continue
		}
		m := firstFD.FindStringSubmatch(c.args)
		if m == nil {
			continue
		}
		fd, _ := strconv.Atoi(m[1])
		if !open[fd] || strings.Contains(c.rest, "EAGAIN") {
			continue
		}
		if _, ok := articleWords[c.name]; !ok || slices.Contains(untraced, c.name) {
			continue
		}
		switch c.name {
		case "accept4", "accept":
			if c.ret >= 0 {
				open[c.ret] = true
			}
		case "close":
			delete(open, fd)
		}
		names, lines = append(names, c.name), append(lines, c.line)
	}
	return names, lines
}
