package peers_test

import (
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/socklab/socklab/internal/testkit"
)

// serverCase is a real program serving 'socklab client'. cmd is the
// command as README.md writes it, with {port} (0 where the program can
// pick a free port and say which; otherwise one found free), {path},
// {name} and {stamp} (testdata/stamp.sh) filled in. ready matches the line
// the program prints once it listens; its first group, if any, is the port
// or address.
type serverCase struct {
	tool      string
	transport string
	abstract  bool
	cmd       string
	ready     string
	// byHand: the program prints the request and sends back what is
	// typed on its stdin (nc -l); the test types the stamped reply, and
	// the client uses --framing line so that a typed line is a reply.
	byHand bool
}

var serverCases = []serverCase{
	{tool: "socat", transport: "tcp", cmd: "socat -d -d TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork EXEC:{stamp}", ready: `listening on AF=2 \S+:(\d+)`},
	{tool: "socat", transport: "tcp6", cmd: "socat -d -d 'TCP6-LISTEN:{port},bind=[::1],reuseaddr,fork' EXEC:{stamp}", ready: `listening on AF=10 \S+:(\d+)`},
	{tool: "socat", transport: "udp", cmd: "socat -d -d UDP-RECVFROM:{port},bind=127.0.0.1,fork EXEC:{stamp}", ready: `receiving on AF=2`},
	{tool: "socat", transport: "udp6", cmd: "socat -d -d 'UDP6-RECVFROM:{port},bind=[::1],fork' EXEC:{stamp}", ready: `receiving on AF=10`},
	{tool: "socat", transport: "unix", cmd: "socat -d -d UNIX-LISTEN:{path},fork EXEC:{stamp}", ready: `listening on AF=1`},
	{tool: "socat", transport: "unix", abstract: true, cmd: "socat -d -d ABSTRACT-LISTEN:{name},fork EXEC:{stamp}", ready: `listening on AF=1`},
	{tool: "socat", transport: "unixgram", cmd: "socat -d -d UNIX-RECVFROM:{path},fork EXEC:{stamp}", ready: `receiving on AF=1`},
	{tool: "socat", transport: "unixpacket", cmd: "socat -d -d UNIX-LISTEN:{path},socktype=5,fork EXEC:{stamp}", ready: `listening on AF=1`},

	{tool: "nc", transport: "tcp", cmd: "nc -lv 127.0.0.1 {port}", ready: `Listening on \S+ (\d+)`, byHand: true},
	{tool: "nc", transport: "unix", cmd: "nc -lvU {path}", ready: `Listening on `, byHand: true},
}

func init() {
	for _, tr := range []string{"tcp", "tcp6", "udp", "udp6", "unix", "unixgram", "unixpacket"} {
		addr := map[string]string{"tcp": "127.0.0.1:0", "udp": "127.0.0.1:0", "tcp6": "[::1]:0", "udp6": "[::1]:0"}[tr]
		if addr == "" {
			addr = "{path}"
			serverCases = append(serverCases, serverCase{tool: "python3", transport: tr, abstract: true,
				cmd: "python3 {script} " + pythonSocket[tr] + " @{name}", ready: `ready (\S+)`})
		}
		serverCases = append(serverCases, serverCase{tool: "python3", transport: tr,
			cmd: "python3 {script} " + pythonSocket[tr] + " " + addr, ready: `ready (\S+)`})
	}
}

// TestPeerServers has socat, nc and the article's server in Python serve
// 'socklab client' (run in process, as the command line) on every
// transport each can serve, and checks the client's output byte for byte.
func TestPeerServers(t *testing.T) {
	for _, c := range serverCases {
		name := c.tool + "/" + c.transport
		if c.abstract {
			name += "-abstract"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			needPeer(t, c.tool)
			needIPv6(t, c.transport)
			testPeerServer(t, c)
		})
	}
}

func testPeerServer(t *testing.T, c serverCase) {
	dir := testkit.SocketDir(t)
	vars := map[string]string{
		"port":   "0",
		"path":   filepath.Join(dir, c.transport+".sock"),
		"name":   uniqueName("socklab-peers-"),
		"stamp":  copyExecutable(t, "stamp.sh", dir),
		"script": filepath.Join("testdata", "echo_server.py"),
	}
	if c.tool == "socat" && strings.HasPrefix(c.transport, "udp") {
		// socat's UDP-RECVFROM does not say which port 0 became.
		vars["port"] = freeUDPPort(t, c.transport)
	}
	p := startProc(t, expand(t, c.cmd, vars), nil)
	out := p.stderr
	if c.tool == "python3" {
		out = p.stdout
	}
	m, err := out.waitFor(regexp.MustCompile(c.ready), p.done)
	if err != nil {
		t.Fatalf("not listening: %v\n%s", err, p.describe())
	}

	var addr string
	switch {
	case c.tool == "python3":
		addr = m[1]
	case c.abstract:
		addr = "@" + vars["name"]
	case strings.HasPrefix(c.transport, "unix"):
		addr = vars["path"]
	default:
		port := vars["port"]
		if len(m) > 1 {
			port = m[1]
		}
		host := map[bool]string{true: "::1", false: "127.0.0.1"}[strings.HasSuffix(c.transport, "6")]
		addr = net.JoinHostPort(host, port)
	}
	args := []string{"--transport", c.transport, "--addr", addr, "-m", "hello"}
	if !c.byHand {
		if err := checkReplies(clientInProcess(t, args...), "hello\n"); err != nil {
			t.Fatalf("%v\nserver: %s", err, p.describe())
		}
		return
	}

	// nc shows the request and sends back what is typed: type the reply.
	go func() {
		if _, err := p.stdout.waitFor(regexp.MustCompile(`^hello\n`), p.done); err != nil {
			return // the client fails and says so
		}
		io.WriteString(p.stdin, "["+time.Now().Format(time.ANSIC)+"] hello\n")
	}()
	got := clientInProcess(t, append(args, "--framing", "line")...)
	if err := checkReplies(got, "hello\n"); err != nil {
		t.Fatalf("%v\nserver: %s", err, p.describe())
	}
	if p.stdout.String() != "hello\n" {
		t.Errorf("nc printed %q, want the request %q", p.stdout.String(), "hello\n")
	}
}

// freeUDPPort is a loopback UDP port that was free a moment ago.
func freeUDPPort(t *testing.T, transport string) string {
	t.Helper()
	host := map[bool]string{true: "[::1]:0", false: "127.0.0.1:0"}[strings.HasSuffix(transport, "6")]
	pc, err := net.ListenPacket(transport, host)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	_, port, _ := net.SplitHostPort(pc.LocalAddr().String())
	return port
}
