package peers_test

import (
	"errors"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/socklab/socklab/internal/testpeer"
)

// twoHosts is two network namespaces joined by a veth pair: the server's
// host and the client's, each with its own loopback. Traffic goes nowhere
// else.
type twoHosts struct {
	server, client string // namespace names
	serverIP4      string // the server host's address on the link
	serverIP6      string // "" when IPv6 could not be set up
}

const (
	linkNet4   = "10.200.0.%s/24"
	linkNet6   = "fd00:5ec:1ab::%s/64"
	serverIP4  = "10.200.0.1"
	serverIP6  = "fd00:5ec:1ab::1"
	vethDevice = "veth0" // created inside each namespace, so the name is free
)

// newTwoHosts builds the two hosts; t.Cleanup removes them, even when the
// test fails half way through building them.
func newTwoHosts(t *testing.T, ip string) *twoHosts {
	t.Helper()
	removeAbandoned(t, ip)
	name := uniqueName(nsPrefix)
	h := &twoHosts{server: name + "-srv", client: name + "-cli", serverIP4: serverIP4}
	run := func(args ...string) error {
		out, err := exec.Command(ip, args...).CombinedOutput()
		if err != nil {
			return errors.New("ip " + strings.Join(args, " ") + ": " + strings.TrimSpace(string(out)))
		}
		return nil
	}
	for _, ns := range []string{h.server, h.client} {
		if err := run("netns", "add", ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := run("netns", "del", ns); err != nil {
				t.Error(err)
			}
		})
	}
	// Both ends are born inside their namespace: the host's own network
	// never sees them, and deleting a namespace deletes the pair.
	must := func(args ...string) {
		if err := run(args...); err != nil {
			t.Fatal(err)
		}
	}
	must("link", "add", vethDevice, "netns", h.server, "type", "veth", "peer", "name", vethDevice, "netns", h.client)
	for i, ns := range []string{h.server, h.client} {
		host := []string{"1", "2"}[i]
		must("-n", ns, "link", "set", "lo", "up")
		must("-n", ns, "addr", "add", strings.ReplaceAll(linkNet4, "%s", host), "dev", vethDevice)
		// nodad: usable at once, without waiting out duplicate address
		// detection.
		if err := run("-n", ns, "-6", "addr", "add", strings.ReplaceAll(linkNet6, "%s", host), "dev", vethDevice, "nodad"); err != nil {
			t.Logf("no IPv6 between the namespaces: %v", err)
		} else if i == 0 {
			h.serverIP6 = serverIP6
		}
		must("-n", ns, "link", "set", vethDevice, "up")
	}
	return h
}

// nsPrefix starts the name of every namespace these tests create; the
// test process's pid follows it.
const nsPrefix = "socklab-test-"

var abandonedNS = regexp.MustCompile(`^` + nsPrefix + `(\d+)-\d+-(srv|cli)$`)

// removeAbandoned deletes the namespaces of test runs that were killed
// before their cleanup ran: ours by name, and their process is gone.
func removeAbandoned(t *testing.T, ip string) {
	out, err := exec.Command(ip, "netns", "list").Output()
	if err != nil {
		return
	}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		m := abandonedNS.FindStringSubmatch(fields[0])
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			t.Logf("removing %s, left by an earlier run", fields[0])
			exec.Command(ip, "netns", "del", fields[0]).Run()
		}
	}
}

// TestTwoHosts shows what a server's address means to another host: one
// bound to loopback (127.0.0.1, [::1]) cannot be reached from it, one bound
// to the wildcard (0.0.0.0, [::]) can; and [::] takes IPv4 clients too.
func TestTwoHosts(t *testing.T) {
	testpeer.Root(t)
	ip := testpeer.Need(t, "ip", "iproute2")
	h := newTwoHosts(t, ip)
	cases := []struct {
		serve, bind       string // the server's transport and address
		client, dialHost  string // the client's transport, and the server host's address it uses
		reachable, needV6 bool
	}{
		{"tcp", "127.0.0.1:0", "tcp", h.serverIP4, false, false},
		{"tcp", "0.0.0.0:0", "tcp", h.serverIP4, true, false},
		{"udp", "127.0.0.1:0", "udp", h.serverIP4, false, false},
		{"udp", "0.0.0.0:0", "udp", h.serverIP4, true, false},
		{"tcp6", "[::1]:0", "tcp6", h.serverIP6, false, true},
		{"tcp6", "[::]:0", "tcp6", h.serverIP6, true, true},
		{"tcp6", "[::]:0", "tcp", h.serverIP4, true, true}, // dual stack
		{"udp6", "[::1]:0", "udp6", h.serverIP6, false, true},
		{"udp6", "[::]:0", "udp6", h.serverIP6, true, true},
		{"udp6", "[::]:0", "udp", h.serverIP4, true, true},
	}
	for _, c := range cases {
		t.Run(c.serve+"_"+c.bind+"_from_"+c.client, func(t *testing.T) {
			t.Parallel()
			if c.needV6 && h.serverIP6 == "" {
				testpeer.Missing(t, "IPv6 could not be set up between the namespaces")
			}
			argv, env := socklabCommand(t, "serve", "--transport", c.serve, "--addr", c.bind)
			srv := startProc(t, append([]string{ip, "netns", "exec", h.server}, argv...), env)
			m, err := srv.stderr.waitFor(regexp.MustCompile(`msg=listening .*addr=(\S+)`), srv.done)
			if err != nil {
				t.Fatalf("%v\n%s", err, srv.describe())
			}
			host, port, _ := net.SplitHostPort(m[1])

			// The server is alive: a client on its own host is answered.
			switch host {
			case "0.0.0.0":
				host = "127.0.0.1"
			case "::":
				host = "::1"
			}
			local := net.JoinHostPort(host, port)
			if out, err := clientIn(t, ip, h.server, c.serve, local); err != nil {
				t.Fatalf("a client on the server's own host, to %s: %v", local, err)
			} else if err := checkReplies(out, "hello\n"); err != nil {
				t.Fatal(err)
			}

			// The other host.
			remote := net.JoinHostPort(c.dialHost, port)
			out, err := clientIn(t, ip, h.client, c.client, remote)
			if c.reachable {
				if err != nil {
					t.Fatalf("from the other host, to %s: %v", remote, err)
				}
				if err := checkReplies(out, "hello\n"); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(srv.stderr.String(), "bound to every interface") {
					t.Errorf("no warning about listening on every interface:\n%s", srv.stderr)
				}
				return
			}
			// Nothing is bound to the link address: TCP answers RST, UDP
			// ICMP "port unreachable"; both read as "connection refused".
			if err == nil {
				t.Fatalf("a server bound to %s answered from the other host at %s: %q", c.bind, remote, out)
			}
			if !strings.Contains(err.Error(), "connection refused") {
				t.Fatalf("from the other host, to %s: %v; want connection refused", remote, err)
			}
			t.Logf("from the other host, to %s: %v", remote, err)
		})
	}
}

// clientIn runs 'socklab client -m hello' in namespace ns and returns its
// stdout, or an error carrying its stderr.
func clientIn(t *testing.T, ip, ns, transport, addr string) (string, error) {
	t.Helper()
	argv, env := socklabCommand(t, "client", "--transport", transport, "--addr", addr, "-m", "hello", "--timeout", "5s", "--retries", "0")
	p := startProc(t, append([]string{ip, "netns", "exec", ns}, argv...), env)
	p.stdin.Close()
	if err := p.wait(); err != nil {
		return p.stdout.String(), errors.New(err.Error() + ": " + strings.TrimSpace(p.stderr.String()))
	}
	return p.stdout.String(), nil
}
