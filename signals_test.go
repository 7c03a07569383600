package main

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/lab"

	"github.com/socklab/socklab/internal/testkit"
)

// startServe runs 'socklab serve args...' as its own process and returns
// once it listens.
func startServe(t *testing.T, args ...string) (*exec.Cmd, string, *testkit.Buffer) {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--ready-file", ready}, args...)...)
	cmd.Env = append(os.Environ(), "SOCKLAB_TEST_AS_MAIN=1")
	stderr := &testkit.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(ready); err == nil {
			return cmd, strings.TrimSpace(string(b)), stderr
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never became ready; stderr:\n%s", stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitExit waits for the process and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd, stderr *testkit.Buffer) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not exit; stderr:\n%s", stderr)
		return -1
	}
}

// SIGTERM while a client is mid-conversation: the request it already sent
// is answered, the socket file goes, and the process exits 0.
func TestSIGTERMFinishesRepliesInFlight(t *testing.T) {
	sock := filepath.Join(testkit.SocketDir(t), "s.sock")
	cmd, addr, stderr := startServe(t, "--transport", "unix", "--addr", sock, "--shutdown-timeout", "1h")
	c, err := net.Dial("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// One exchange first: a connection still in the listen backlog when the
	// signal comes is never accepted, as with any server.
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(lab.Timeout))
	if _, err := io.ReadFull(c, make([]byte, echo.PrefixLen+len("hello"))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("sent before the signal")); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(lab.Timeout))
	got, _ := io.ReadAll(c)
	if !bytes.HasSuffix(got, []byte("] sent before the signal")) || !echo.IsPrefix(got) {
		t.Fatalf("reply %q; want the request answered before the close", got)
	}
	if code := waitExit(t, cmd, stderr); code != 0 {
		t.Fatalf("exit %d after SIGTERM; stderr:\n%s", code, stderr)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket file left behind: %v", err)
	}
	if !strings.Contains(stderr.String(), "shutting down") {
		t.Fatalf("no shutdown logged:\n%s", stderr)
	}
}

// A server stuck finishing (a client that never reads holds a reply) exits
// at once on a second signal.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	cmd, addr, stderr := startServe(t, "--addr", "127.0.0.1:0", "--shutdown-timeout", "10m", "--write-timeout", "10m")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Fill both directions so that the server blocks in a write.
	c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	for {
		if _, err := c.Write(chunk); err != nil {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	stderr.WaitFor(t, "shutting down")
	cmd.Process.Signal(syscall.SIGINT)
	if code := waitExit(t, cmd, stderr); code != 1 {
		t.Fatalf("exit %d after a second signal, want 1; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr.String(), "second signal: exiting now") {
		t.Fatalf("stderr:\n%s", stderr)
	}
}
