package lessons_test

// Claims the lessons make that a script cannot show: each test names the
// lesson that relies on it.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/lab"
	"github.com/socklab/socklab/transports"
)

// exchange sends msg on c and reads its one reply.
func exchange(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	return readReply(t, c, msg, deadline)
}

func readReply(t *testing.T, c net.Conn, msg string, wait time.Duration) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	reply := make([]byte, echo.PrefixLen+len(msg))
	if _, err := io.ReadFull(c, reply); err != nil {
		t.Fatalf("reply to %q: %v", msg, err)
	}
	if !echo.IsPrefix(reply) || string(reply[echo.PrefixLen:]) != msg {
		t.Fatalf("reply %q to %q", reply, msg)
	}
	return string(reply)
}

// TestSerialServerMakesOthersWait is lesson 14: with --serial, a second
// client is connected and has sent its request, but gets no answer until
// the first client leaves; without it, the answer comes at once.
func TestSerialServerMakesOthersWait(t *testing.T) {
	for _, serial := range []bool{true, false} {
		name := "default"
		args := []string{"--addr", "127.0.0.1:0"}
		if serial {
			name = "serial"
			args = append(args, "--serial")
		}
		t.Run(name, func(t *testing.T) {
			addr, stop := serveInProcess(t, args...)
			first, err := net.DialTimeout("tcp4", addr, deadline)
			if err != nil {
				t.Fatal(err)
			}
			defer first.Close()
			exchange(t, first, "hello")

			// The second client's connect succeeds either way: the kernel
			// queues it until the server accepts.
			second, err := net.DialTimeout("tcp4", addr, deadline)
			if err != nil {
				t.Fatal(err)
			}
			defer second.Close()
			msg := "anyone there?"
			if _, err := second.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			if !serial {
				readReply(t, second, msg, deadline)
				stop()
				return
			}
			// The serial server is still with the first client, so no
			// answer can come however long we wait; 300ms is enough to
			// show it.
			second.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if n, err := second.Read(make([]byte, 64)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the second client of a serial server read %d bytes, %v, while the first was connected", n, err)
			}
			first.Close()
			readReply(t, second, msg, deadline)
			stop()
		})
	}
}

// TestUDPClientRetriesThenGivesUp is lesson 11: a datagram that nobody
// answers is sent 1 + --retries times, and then the client gives up with
// one line.
func TestUDPClientRetriesThenGivesUp(t *testing.T) {
	silent, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	addr := silent.LocalAddr().String()
	code, out, errOut := socklabMain("client", "--transport", "udp", "--addr", addr, "--timeout", "50ms", "--retries", "2", "-m", "hello")
	want := "socklab: udp " + addr + ": no reply after 3 tries (timed out): is 'socklab serve --transport udp' running?\n"
	if code != 1 || out != "" || errOut != want {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
	}
	// The three tries are queued at the silent socket.
	buf := make([]byte, 64)
	for i := range 4 {
		silent.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, _, err := silent.ReadFrom(buf)
		if i == 3 {
			if err == nil {
				t.Fatalf("a fourth datagram %q: want 3 tries", buf[:n])
			}
			break
		}
		if err != nil || string(buf[:n]) != "hello" {
			t.Fatalf("try %d: %q, %v", i+1, buf[:n], err)
		}
	}
}

// TestIPv6OnlyOption is lesson 13: socklab sets IPV6_V6ONLY on its IPv6
// sockets itself, off by default (dual stack) and on with --ipv6-only, with
// either API.
func TestIPv6OnlyOption(t *testing.T) {
	if why := lab.IPv6Unavailable(); why != "" {
		t.Skip(why)
	}
	for _, only := range []bool{false, true} {
		want := 0
		if only {
			want = 1
		}
		tr, err := transports.Lookup(transports.APINet, "tcp6")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := tr.Listen(context.Background(), "[::1]:0", transports.Options{IPv6Only: only})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := ln.(syscall.Conn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		got, serr := -1, error(nil)
		raw.Control(func(fd uintptr) {
			got, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY)
		})
		ln.Close()
		if serr != nil || got != want {
			t.Errorf("net API, IPv6Only=%v: IPV6_V6ONLY = %d (%v), want %d", only, got, serr, want)
		}

		if runtime.GOOS != "linux" {
			continue
		}
		sys, err := transports.Lookup(transports.APISyscall, "tcp6")
		if err != nil {
			t.Fatal(err)
		}
		var trace bytes.Buffer
		ln, err = sys.Listen(context.Background(), "[::1]:0", transports.Options{IPv6Only: only, Trace: transports.NewTracer(&trace)})
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		if call := "IPPROTO_IPV6, IPV6_V6ONLY, " + string(rune('0'+want)) + ")"; !strings.Contains(trace.String(), call) {
			t.Errorf("syscall API, IPv6Only=%v: no setsockopt(..., %s in the trace:\n%s", only, call, trace.String())
		}
	}
}

// TestConnectToZeroAddress is the errata's client defect: on Linux,
// connecting to 0.0.0.0 reaches this machine.
func TestConnectToZeroAddress(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("connecting to 0.0.0.0 is Linux's behaviour, not every system's")
	}
	_, port := startEcho(t, echo.Config{})
	code, out, errOut := socklabMain("client", "--addr", "0.0.0.0:"+port, "-m", "hello")
	if code != 0 || out != fixedStamp+"hello\n" {
		t.Fatalf("client to 0.0.0.0:%s: exit %d, %q, %q", port, code, out, errOut)
	}
}

// TestSocketModeOption is lesson 12: --socket-mode 0660 gives the socket
// file the mode srw-rw----.
func TestSocketModeOption(t *testing.T) {
	dir, err := os.MkdirTemp("", "sl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "lab.sock")
	_, stop := serveInProcess(t, "--transport", "unix", "--addr", path, "--socket-mode", "0660")
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o660 || fi.Mode().String() != "Srw-rw----" {
		t.Errorf("socket file mode %v, want a socket with rw-rw----", fi.Mode())
	}
	stop()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket file left after the server stopped: %v", err)
	}
}
