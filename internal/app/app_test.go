package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func run(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Main(context.Background(), append([]string{"socklab"}, args...), Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
	return code, out.String(), errOut.String()
}

// Every mistake is one line on stderr and a non-zero exit: 2 for the
// command line, 1 for the world.
func TestExitCodes(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"serve", "--transport", "x25"}, 2, `^socklab: unknown transport "x25" \(valid: tcp, tcp6, udp, udp6, unix, unixgram, unixpacket\)\n$`},
		{[]string{"client", "--api", "winsock"}, 2, `^socklab: unknown API "winsock" \(valid: net(, syscall)?\)\n$`},
		{[]string{"serve", "--framing", "bytes"}, 2, `^socklab: unknown framing "bytes" \(valid: chunk, line\)\n$`},
		{[]string{"serve", "--bufsize", "-1"}, 2, `^socklab: --bufsize must be between 1 and 1048576, not -1\n$`},
		{[]string{"serve", "--udp-rate", "-3"}, 2, `^socklab: --udp-rate must be 0 \(no limit\) or a positive number, not -3\n$`},
		{[]string{"serve", "--udp-rate", "abc"}, 2, `^socklab: --udp-rate: "abc" is not a valid value: give a number\n$`},
		{[]string{"client", "--timeout", "5"}, 2, `^socklab: --timeout: "5" is not a valid value: give a duration such as 2s, 500ms or 1m30s\n$`},
		{[]string{"bench", "-s", "x"}, 2, `^socklab: --size: "x" is not a valid value: give a whole number\n$`},
		{[]string{"serve", "--udp-rate", "inf"}, 2, `^socklab: --udp-rate must be 0 \(no limit\) or a positive number, not \+Inf\n$`},
		{[]string{"serve", "--idle-timeout", "-1s"}, 2, `^socklab: --idle-timeout must not be negative, not -1s\n$`},
		{[]string{"serve", "--log-level", "loud"}, 2, `^socklab: unknown log level "loud" \(valid: debug, info, warn, error\)\n$`},
		{[]string{"client", "--timeout", "0s"}, 2, `^socklab: --timeout must be positive, not 0s\n$`},
		{[]string{"client", "--retries", "-1"}, 2, `^socklab: --retries must be between 0 and 100, not -1\n$`},
		{[]string{"client", "--nope"}, 2, `^socklab: flag provided but not defined: -nope\n$`},
		{[]string{"teleport"}, 2, `^socklab: unknown command "teleport"`},
		{[]string{"client", "--addr", "127.0.0.1:1", "-m", "hi"}, 1, `^socklab: tcp 127\.0\.0\.1:1: connection refused: is 'socklab serve --transport tcp' running\?\n$`},
		{[]string{"serve", "--addr", "256.0.0.1:0"}, 1, `^socklab: serve tcp 256\.0\.0\.1:0: .*\n$`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := run(tt.args...)
			checkFailure(t, code, stdout, stderr, tt.code, tt.stderr)
		})
	}
}

// checkFailure checks a failed run: the exit code, one line on stderr
// matching stderrRE, nothing on stdout.
func checkFailure(t *testing.T, code int, stdout, stderr string, wantCode int, stderrRE string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("exit %d, want %d", code, wantCode)
	}
	if !regexp.MustCompile(stderrRE).MatchString(stderr) {
		t.Errorf("stderr %q does not match %q", stderr, stderrRE)
	}
	if strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr is not one line: %q", stderr)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing", stdout)
	}
}

func TestNoArgumentsShowsHelp(t *testing.T) {
	code, stdout, _ := run()
	if code != 0 || !strings.Contains(stdout, "serve") || !strings.Contains(stdout, "client") {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
}

// serve in process: a signal on Env.Signals stops it cleanly, exit 0, and
// the socket file it made is gone.
func TestServeStopsOnSignal(t *testing.T) {
	dir, err := os.MkdirTemp("", "sla")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock, ready := filepath.Join(dir, "s.sock"), filepath.Join(dir, "ready")
	sigs := make(chan struct{}, 1)
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(context.Background(), []string{"socklab", "serve", "--transport", "unixpacket", "--addr", sock, "--ready-file", ready},
			Env{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &stderr, Signals: sigs})
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve never became ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	code, stdout, _ := run("client", "--transport", "unixpacket", "--addr", sock, "-m", "in process")
	if code != 0 || !strings.HasSuffix(stdout, "] in process\n") {
		t.Fatalf("client: exit %d, stdout %q", code, stdout)
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket file mode %v, want 0600", fi.Mode().Perm())
	}
	sigs <- struct{}{}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exit %d", code)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop on the signal")
	}
	if _, err := os.Lstat(sock); err == nil {
		t.Fatal("socket file left behind")
	}
}
