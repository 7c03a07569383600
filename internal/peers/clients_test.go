package peers_test

import (
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/socklab/socklab/internal/testkit"
)

// clientCase is a real program talking to a socklab server. cmd is the
// command as README.md's "Talking to socklab with nc and socat" writes it,
// with {port}, {path} or {name} (an abstract name without its "@") for
// where the server is, and {dir} for a directory of the test's own.
type clientCase struct {
	tool      string
	transport string
	abstract  bool // the server listens on an abstract name, not a file
	cmd       string
	// typed: stdin is lines typed one at a time, each answered before the
	// next; otherwise it is "hello" with no newline, as printf 'hello' |.
	typed bool
}

var clientCases = []clientCase{
	{tool: "nc", transport: "tcp", cmd: "nc -N 127.0.0.1 {port}"},
	{tool: "nc", transport: "tcp", cmd: "nc -N 127.0.0.1 {port}", typed: true},
	{tool: "nc", transport: "tcp6", cmd: "nc -N ::1 {port}"},
	{tool: "nc", transport: "udp", cmd: "nc -u -w1 127.0.0.1 {port}"},
	{tool: "nc", transport: "udp", cmd: "nc -u -w1 127.0.0.1 {port}", typed: true},
	{tool: "nc", transport: "udp6", cmd: "nc -u -w1 ::1 {port}"},
	{tool: "nc", transport: "unix", cmd: "nc -N -U {path}"},
	{tool: "nc", transport: "unix", abstract: true, cmd: "nc -N -U @{name}"},
	{tool: "nc", transport: "unixgram", cmd: "nc -uU -w1 {path}"},
	{tool: "nc", transport: "unixgram", abstract: true, cmd: "nc -uU -w1 @{name}"},

	{tool: "socat", transport: "tcp", cmd: "socat - TCP:127.0.0.1:{port}"},
	{tool: "socat", transport: "tcp6", cmd: "socat - 'TCP6:[::1]:{port}'"},
	{tool: "socat", transport: "udp", cmd: "socat - UDP:127.0.0.1:{port}"},
	{tool: "socat", transport: "udp6", cmd: "socat - 'UDP6:[::1]:{port}'"},
	{tool: "socat", transport: "unix", cmd: "socat - UNIX-CONNECT:{path}"},
	{tool: "socat", transport: "unix", abstract: true, cmd: "socat - ABSTRACT-CONNECT:{name}"},
	{tool: "socat", transport: "unixgram", cmd: "socat - UNIX-SENDTO:{path},bind={dir}/me.sock"},
	{tool: "socat", transport: "unixgram", abstract: true, cmd: "socat - ABSTRACT-SENDTO:{name},bind={name}-me"},
	{tool: "socat", transport: "unixpacket", cmd: "socat - UNIX-CONNECT:{path},socktype=5"},
	{tool: "socat", transport: "unixpacket", abstract: true, cmd: "socat - ABSTRACT-CONNECT:{name},socktype=5"},
}

// pythonSocket is echo_client.py's and echo_server.py's FAMILY and TYPE
// for each transport.
var pythonSocket = map[string]string{
	"tcp": "inet stream", "tcp6": "inet6 stream",
	"udp": "inet dgram", "udp6": "inet6 dgram",
	"unix": "unix stream", "unixgram": "unix dgram", "unixpacket": "unix seqpacket",
}

func init() {
	// Python's socket module reaches every transport, abstract names too.
	for _, tr := range []string{"tcp", "tcp6", "udp", "udp6", "unix", "unixgram", "unixpacket"} {
		addr := map[string]string{"tcp": "127.0.0.1:{port}", "udp": "127.0.0.1:{port}", "tcp6": "[::1]:{port}", "udp6": "[::1]:{port}"}[tr]
		if addr == "" {
			addr = "{path}"
			clientCases = append(clientCases, clientCase{tool: "python3", transport: tr, abstract: true,
				cmd: "python3 {script} " + pythonSocket[tr] + " @{name} hello"})
		}
		clientCases = append(clientCases, clientCase{tool: "python3", transport: tr,
			cmd: "python3 {script} " + pythonSocket[tr] + " " + addr + " hello"})
	}
}

var toolPackage = map[string]string{"nc": "netcat-openbsd", "socat": "socat", "python3": "python3"}

// TestPeerClients has nc, socat and Python talk to 'socklab serve' on
// every transport each can use, and checks the replies byte for byte.
func TestPeerClients(t *testing.T) {
	for _, c := range clientCases {
		name := c.tool + "/" + c.transport
		if c.abstract {
			name += "-abstract"
		}
		if c.typed {
			name += "-typed"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			needPeer(t, c.tool)
			needIPv6(t, c.transport)
			testPeerClient(t, c)
		})
	}
}

func testPeerClient(t *testing.T, c clientCase) {
	dir := testkit.SocketDir(t)
	var addr string
	switch {
	case c.abstract:
		addr = "@" + uniqueName("socklab-peers-")
	case strings.HasPrefix(c.transport, "unix"):
		addr = filepath.Join(dir, c.transport+".sock")
	case strings.HasSuffix(c.transport, "6"):
		addr = "[::1]:0"
	default:
		addr = "127.0.0.1:0"
	}
	srv := serveInProcess(t, "--transport", c.transport, "--addr", addr)

	vars := map[string]string{"dir": dir, "script": filepath.Join("testdata", "echo_client.py")}
	if strings.HasPrefix(srv, "@") {
		vars["name"] = srv[1:]
	} else if _, port, err := net.SplitHostPort(srv); err == nil && !strings.HasPrefix(c.transport, "unix") {
		vars["port"] = port
	} else {
		vars["path"] = srv
	}
	argv := expand(t, c.cmd, vars)
	p := startProc(t, argv, nil)

	var sent []string
	switch {
	case c.tool == "python3":
		sent = []string{"hello"} // in its arguments
	case c.typed:
		// One line at a time, each answered before the next is typed.
		for _, line := range []string{"hello\n", "two words\n"} {
			sent = append(sent, line)
			if _, err := io.WriteString(p.stdin, line); err != nil {
				t.Fatalf("typing %q: %v", line, err)
			}
			if err := p.stdout.waitLen(replyLen(sent...), p.done); err != nil {
				t.Fatalf("no reply to %q: %v\n%s", line, err, p.describe())
			}
		}
	default:
		sent = []string{"hello"}
		if _, err := io.WriteString(p.stdin, "hello"); err != nil {
			t.Fatal(err)
		}
		// A datagram has no end to send: wait for the reply before
		// closing stdin, or socat would give up after its 0.5 s.
		if err := p.stdout.waitLen(replyLen(sent...), p.done); err != nil {
			t.Fatalf("no reply: %v\n%s", err, p.describe())
		}
	}
	p.stdin.Close()
	if err := p.wait(); err != nil {
		t.Fatalf("%v\n%s", err, p.describe())
	}
	if err := checkReplies(p.stdout.String(), sent...); err != nil {
		t.Fatalf("%v\n%s", err, p.describe())
	}
}
