package lessons_test

// The article's scripts, made to run on Python 3 (testdata/python), against
// socklab in both directions; and each defect the errata lesson describes,
// shown by undoing its fix in a scratch copy.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/internal/app"
	"github.com/socklab/socklab/internal/testpeer"
	"github.com/socklab/socklab/transports"

	"github.com/socklab/socklab/internal/testkit"
)

// deadline bounds every wait: generous, so that a loaded machine is slow
// rather than wrong.
const deadline = 30 * time.Second

var pythonDir = filepath.Join(root, "testdata", "python")

// fixedNow is the clock of the in-process servers: one second, with a
// one-digit day to check ctime's space padding.
func fixedNow() time.Time { return time.Date(2026, time.November, 1, 9, 5, 3, 0, time.Local) }

const fixedStamp = "[Sun Nov  1 09:05:03 2026] "

// pyServer is a running testdata/python/server.py (or a variant of it).
type pyServer struct {
	cmd    *exec.Cmd
	addr   string
	stdout *testkit.Buffer
	stderr *testkit.Buffer
	done   chan error
}

// startPyServer runs script on 127.0.0.1 and the given port ("0" for any)
// and waits for its "listening on" line.
func startPyServer(t *testing.T, py, script, port string) *pyServer {
	t.Helper()
	s, err := runPyServer(t, py, script, port)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func runPyServer(t *testing.T, py, script, port string) (*pyServer, error) {
	t.Helper()
	cmd := exec.Command(py, "-u", script, "127.0.0.1", port)
	s := &pyServer{cmd: cmd, stdout: &testkit.Buffer{}, stderr: &testkit.Buffer{}, done: make(chan error, 1)}
	pr, pw := io.Pipe()
	cmd.Stdout = io.MultiWriter(s.stdout, pw)
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		pw.Close()
		s.done <- err
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.done
	})
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				listening <- rest
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case hostPort := <-listening:
		host, port, _ := strings.Cut(hostPort, " ")
		s.addr = net.JoinHostPort(host, port)
		return s, nil
	case err := <-s.done:
		s.done <- err
		return s, fmt.Errorf("%s exited before listening (%v): %s", script, err, s.stderr.String())
	case <-time.After(deadline):
		return s, fmt.Errorf("%s did not say it was listening within %s", script, deadline)
	}
}

// wait waits for the server to exit by itself.
func (s *pyServer) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(deadline):
		t.Fatalf("the Python server did not exit within %s; stderr: %s", deadline, s.stderr.String())
		return nil
	}
}

// runPyClient runs a client script against addr with the given input.
func runPyClient(t *testing.T, py, script, host, port, input string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, script, host, port)
	cmd.Stdin = strings.NewReader(input)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish within %s", script, deadline)
	}
	return out.String(), errb.String(), err
}

// startEcho runs socklab's TCP echo in process, with the fixed clock.
func startEcho(t *testing.T, cfg echo.Config) (host, port string) {
	t.Helper()
	tr, err := transports.Lookup(transports.APINet, "tcp")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Now = fixedNow
	srv, err := echo.Start(ctx, tr, "127.0.0.1:0", transports.Options{}, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		srv.Wait()
	})
	host, port, _ = net.SplitHostPort(srv.Addr.String())
	return host, port
}

func socklabMain(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = app.Main(context.Background(), append([]string{"socklab"}, args...), app.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

var stampRE = regexp.MustCompile(`^\[((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 1-3]\d \d\d:\d\d:\d\d \d{4})\] `)

// checkStamp checks that reply is "[" ctime "] " msg, with a ctime of the
// local time between from and to.
func checkStamp(t *testing.T, reply, msg string, from, to time.Time) {
	t.Helper()
	m := stampRE.FindStringSubmatch(reply)
	if m == nil || !echo.IsPrefix([]byte(reply)) {
		t.Errorf("reply %q does not start with a ctime stamp", reply)
		return
	}
	if want := "[" + m[1] + "] " + msg; reply != want {
		t.Errorf("reply %q, want exactly %q", reply, want)
	}
	at, err := time.ParseInLocation(time.ANSIC, m[1], time.Local)
	if err != nil {
		t.Fatal(err)
	}
	if at.Before(from.Truncate(time.Second)) || at.After(to) {
		t.Errorf("reply stamped %s, not between %s and %s (local time)", at, from, to)
	}
}

// TestSocklabClientAgainstPythonServer runs 'socklab client' against the
// article's server: the replies are the article's protocol, byte for byte.
func TestSocklabClientAgainstPythonServer(t *testing.T) {
	py := testpeer.Need(t, "python3", "python3")
	s := startPyServer(t, py, filepath.Join(pythonDir, "server.py"), "0")

	from := time.Now()
	code, out, errOut := socklabMain("client", "--addr", s.addr, "-m", "hello", "-m", "two words")
	to := time.Now()
	if code != 0 || errOut != "" {
		t.Fatalf("socklab client: exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("socklab client printed %q, want two replies", out)
	}
	checkStamp(t, lines[0], "hello", from, to)
	checkStamp(t, lines[1], "two words", from, to)

	// Bytes that are not text come back unchanged too.
	c, err := net.DialTimeout("tcp4", s.addr, deadline)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := []byte("a\x00b\xff\xfe\n")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(deadline))
	reply := make([]byte, echo.PrefixLen+len(msg))
	if _, err := io.ReadFull(c, reply); err != nil {
		t.Fatal(err)
	}
	if !echo.IsPrefix(reply) || !bytes.Equal(reply[echo.PrefixLen:], msg) {
		t.Errorf("binary reply %q, want a stamp and %q", reply, msg)
	}
	c.Close()

	// The server's own log: the line that FIX 1 repaired.
	if !regexp.MustCompile(`(?m)^\.\.\.connected from:  \('127\.0\.0\.1', \d+\)$`).MatchString(s.stdout.String()) {
		t.Errorf("the server's output lacks its '...connected from:' line:\n%s", s.stdout.String())
	}
}

// TestPythonClientAgainstSocklab runs the article's client against
// socklab's server: what it prints is the prompt and each reply, exactly.
func TestPythonClientAgainstSocklab(t *testing.T) {
	py := testpeer.Need(t, "python3", "python3")
	host, port := startEcho(t, echo.Config{})
	out, errOut, err := runPyClient(t, py, filepath.Join(pythonDir, "client.py"), host, port, "hello\ntwo words\n\n")
	if err != nil {
		t.Fatalf("client.py: %v\n%s", err, errOut)
	}
	if want := "> " + fixedStamp + "hello\n> " + fixedStamp + "two words\n> "; out != want {
		t.Errorf("client.py printed %q, want %q", out, want)
	}
}

// TestPythonClientToZeroAddress: the article's client connects to 0.0.0.0,
// which Linux takes for this machine.
func TestPythonClientToZeroAddress(t *testing.T) {
	py := testpeer.Need(t, "python3", "python3")
	_, port := startEcho(t, echo.Config{})
	out, errOut, err := runPyClient(t, py, filepath.Join(pythonDir, "client.py"), "0.0.0.0", port, "hello\n\n")
	if err != nil {
		t.Fatalf("client.py to 0.0.0.0: %v\n%s", err, errOut)
	}
	if want := "> " + fixedStamp + "hello\n> "; out != want {
		t.Errorf("client.py printed %q, want %q", out, want)
	}
}

// TestPythonClientReadsOneRecv: a reply longer than 1024 bytes is cut by
// the client's single recv(1024).
func TestPythonClientReadsOneRecv(t *testing.T) {
	py := testpeer.Need(t, "python3", "python3")
	host, port := startEcho(t, echo.Config{BufSize: 4096})
	msg := strings.Repeat("x", 2000)
	out, errOut, err := runPyClient(t, py, filepath.Join(pythonDir, "client.py"), host, port, msg+"\n\n")
	if err != nil {
		t.Fatalf("client.py: %v\n%s", err, errOut)
	}
	printed, ok := strings.CutPrefix(out, "> ")
	printed, ok2 := strings.CutSuffix(printed, "\n> ")
	full := fixedStamp + msg
	if !ok || !ok2 || !strings.HasPrefix(full, printed) || len(printed) == 0 {
		t.Fatalf("client.py printed %q, want a prompt, a part of the reply, a prompt", clip(out))
	}
	if len(printed) > 1024 || len(printed) >= len(full) {
		t.Errorf("client.py printed %d bytes of the %d-byte reply; one recv(1024) returns at most 1024", len(printed), len(full))
	}
}

// TestPythonClientEndOfInput: input that ends without an empty line kills
// the article's client with EOFError.
func TestPythonClientEndOfInput(t *testing.T) {
	py := testpeer.Need(t, "python3", "python3")
	host, port := startEcho(t, echo.Config{})
	out, errOut, err := runPyClient(t, py, filepath.Join(pythonDir, "client.py"), host, port, "hello\n")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(errOut, "EOFError") {
		t.Fatalf("client.py at end of input: %v, stderr %q; want EOFError", err, errOut)
	}
	if want := "> " + fixedStamp + "hello\n> "; out != want {
		t.Errorf("client.py printed %q, want %q before it failed", out, want)
	}
}

// undo writes a copy of a script with one fixed line replaced by the
// article's original, and returns its path.
func undo(t *testing.T, script, fixed, original string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pythonDir, script))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	n := 0
	for i, l := range lines {
		if strings.TrimSpace(l) == fixed {
			indent := l[:len(l)-len(strings.TrimLeft(l, " "))]
			lines[i] = indent + original
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%s: %d lines %q, want 1", script, n, fixed)
	}
	path := filepath.Join(t.TempDir(), script)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestArticleDefectsOnPython3 undoes each fix of testdata/python and checks
// that the article's line fails on Python 3 as the errata lesson says.
func TestArticleDefectsOnPython3(t *testing.T) {
	py := testpeer.Need(t, "python3", "python3")

	t.Run("server/addr", func(t *testing.T) {
		script := undo(t, "server.py", "print('...connected from: ', client_addr)  # FIX 1", "print('...connected from: ', addr)")
		s := startPyServer(t, py, script, "0")
		c, err := net.DialTimeout("tcp4", s.addr, deadline)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := s.wait(t); err == nil || !strings.Contains(s.stderr.String(), "NameError: name 'addr' is not defined") {
			t.Errorf("server exited with %v, stderr %q; want a NameError for addr", err, s.stderr.String())
		}
	})

	t.Run("server/str", func(t *testing.T) {
		script := undo(t, "server.py", "client_sock.send(b'[%s] %s' % (ctime().encode(), data))  # FIX 2", "client_sock.send('[{}] {}'.format(ctime(), data))")
		s := startPyServer(t, py, script, "0")
		c, err := net.DialTimeout("tcp4", s.addr, deadline)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if err := s.wait(t); err == nil || !strings.Contains(s.stderr.String(), "TypeError: a bytes-like object is required, not 'str'") {
			t.Errorf("server exited with %v, stderr %q; want a TypeError", err, s.stderr.String())
		}
	})

	host, port := startEcho(t, echo.Config{})
	for _, tc := range []struct {
		name, fixed, original string
		wantErr, wantOut      string
	}{
		{"client/raw_input", "data = input('> ')  # FIX 1", "data = raw_input('> ')", "NameError: name 'raw_input' is not defined", ""},
		{"client/send", "client_sock.send(data.encode())  # FIX 2", "client_sock.send(data)", "TypeError: a bytes-like object is required, not 'str'", ""},
		{"client/print", "print(data.decode())  # FIX 2", "print(data)", "", "> b'" + fixedStamp + "hello'\n> "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := undo(t, "client.py", tc.fixed, tc.original)
			out, errOut, err := runPyClient(t, py, script, host, port, "hello\n\n")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(errOut, tc.wantErr) {
					t.Errorf("client exited with %v, stderr %q; want %q", err, errOut, tc.wantErr)
				}
				return
			}
			if err != nil || out != tc.wantOut {
				t.Errorf("client: %v, printed %q; want %q", err, out, tc.wantOut)
			}
		})
	}
}

// TestRestartAfterTimeWait stops a server while a client is connected, so
// that the server's side of the connection is left in TIME_WAIT, and starts
// it again on its port at once. The article's server cannot bind it; with
// SO_REUSEADDR it can; socklab's server, which sets the option as Go's net
// package does, can too. (The option must have been set on the socket that
// left the TIME_WAIT behind as well as on the new one.)
func TestRestartAfterTimeWait(t *testing.T) {
	py := testpeer.Need(t, "python3", "python3")
	article := filepath.Join(pythonDir, "server.py")

	port := killWithClient(t, startPyServer(t, py, article, "0"))
	again, err := runPyServer(t, py, article, port)
	if err == nil {
		t.Fatalf("the article's server bound port %s again at once; want Address already in use", port)
	}
	if again.wait(t) == nil || !strings.Contains(again.stderr.String(), "OSError: [Errno 98] Address already in use") {
		t.Fatalf("the restarted server: stderr %q; want OSError: [Errno 98] Address already in use", again.stderr.String())
	}

	// The errata's fix: the option before bind.
	fixed := addLine(t, "server.py", "server_sock.bind(ADDR)", "server_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)")
	port = killWithClient(t, startPyServer(t, py, fixed, "0"))
	code, out, errOut := socklabMain("client", "--addr", startPyServer(t, py, fixed, port).addr, "-m", "hello")
	if code != 0 || !strings.HasSuffix(out, "] hello\n") {
		t.Errorf("the server with SO_REUSEADDR, restarted: exit %d, %q, %q", code, out, errOut)
	}

	// socklab's server, stopped with a client connected: it closes that
	// connection first, and starts again on the same port.
	addr, stop := serveInProcess(t, "--addr", "127.0.0.1:0")
	c := dialExchange(t, addr)
	stop()
	closeAfterEOF(t, c)
	_, port, _ = net.SplitHostPort(addr)
	waitTimeWait(t, port)
	addr, stop = serveInProcess(t, "--addr", addr)
	code, out, errOut = socklabMain("client", "--addr", addr, "-m", "hello")
	if code != 0 || !strings.HasSuffix(out, "] hello\n") {
		t.Errorf("socklab client after socklab's restart: exit %d, %q, %q", code, out, errOut)
	}
	stop()
}

// killWithClient connects a client to a Python server, kills the server
// while the client is connected, and returns the port once the server's
// side of the connection is in TIME_WAIT.
func killWithClient(t *testing.T, s *pyServer) (port string) {
	t.Helper()
	c := dialExchange(t, s.addr)
	s.cmd.Process.Kill()
	s.wait(t)
	closeAfterEOF(t, c)
	_, port, _ = net.SplitHostPort(s.addr)
	waitTimeWait(t, port)
	return port
}

func dialExchange(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp4", addr, deadline)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(deadline))
	if _, err := io.ReadFull(c, make([]byte, echo.PrefixLen+5)); err != nil {
		t.Fatal(err)
	}
	return c
}

// closeAfterEOF waits for the server to close first, then closes.
func closeAfterEOF(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(deadline))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the client read %d bytes, %v; want end of stream: the server closes first", n, err)
	}
	c.Close()
}

// addLine writes a copy of a script with line inserted before the line
// before, and returns its path.
func addLine(t *testing.T, script, before, line string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pythonDir, script))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), "\n"+before+"\n") != 1 {
		t.Fatalf("%s: want one line %q", script, before)
	}
	path := filepath.Join(t.TempDir(), script)
	text := strings.Replace(string(b), "\n"+before+"\n", "\n"+line+"\n"+before+"\n", 1)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitTimeWait waits until a TCP socket bound to 127.0.0.1:port is in
// TIME_WAIT, as /proc/net/tcp lists it.
func waitTimeWait(t *testing.T, port string) {
	t.Helper()
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	local := fmt.Sprintf("0100007F:%04X", p)
	end := time.Now().Add(deadline)
	for {
		b, err := os.ReadFile("/proc/net/tcp")
		if err != nil {
			t.Skipf("no /proc/net/tcp: %v", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 3 && f[1] == local && f[3] == "06" { // 06 is TCP_TIME_WAIT
				return
			}
		}
		if time.Now().After(end) {
			t.Fatalf("no connection of 127.0.0.1:%s in TIME_WAIT within %s", port, deadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serveInProcess runs 'socklab serve' with args in process until stop is
// called, waits until it listens and returns its address. stop returns
// what the server logged.
func serveInProcess(t *testing.T, args ...string) (addr string, stop func() string) {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	sig := make(chan struct{}, 1)
	stderr := &testkit.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- app.Main(context.Background(), append([]string{"socklab", "serve", "--ready-file", ready}, args...),
			app.Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: stderr, Signals: sig})
	}()
	end := time.Now().Add(deadline)
	for {
		if b, err := os.ReadFile(ready); err == nil && len(b) > 0 {
			addr = strings.TrimSpace(string(b))
			break
		}
		select {
		case code := <-done:
			t.Fatalf("socklab serve exited with %d: %s", code, stderr.String())
		default:
		}
		if time.Now().After(end) {
			t.Fatalf("socklab serve not ready within %s", deadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopped := false
	stop = func() string {
		if !stopped {
			stopped = true
			sig <- struct{}{}
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("socklab serve exited with %d: %s", code, stderr.String())
				}
			case <-time.After(deadline):
				t.Errorf("socklab serve did not stop within %s", deadline)
			}
		}
		return stderr.String()
	}
	t.Cleanup(func() { stop() })
	return addr, stop
}

func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}
