package peers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/internal/app"
	"github.com/socklab/socklab/internal/testpeer"
	"github.com/socklab/socklab/lab"
)

// asSocklab, in the environment of this test binary, makes it run socklab
// instead of the tests, as testscript does: the tests get a real socklab
// process (for strace, for another network namespace) without building one.
const asSocklab = "SOCKLAB_PEERS_RUN_SOCKLAB"

func TestMain(m *testing.M) {
	if os.Getenv(asSocklab) == "1" {
		os.Exit(app.Main(context.Background(), append([]string{"socklab"}, os.Args[1:]...),
			app.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
	}
	os.Exit(m.Run())
}

// socklabCommand is the argv and environment that run socklab as a process.
func socklabCommand(t *testing.T, args ...string) (argv, env []string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env = append(os.Environ(), asSocklab+"=1")
	// Built with -race, this binary would sleep a second at exit, waiting
	// for late race reports; socklab processes exit many times here.
	env = append(env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	return append([]string{self}, args...), env
}

// deadline is how long any one peer may take: generous, so that a loaded
// machine is slow rather than wrong.
const deadline = 20 * time.Second

// output is a process's stdout or stderr as it arrives; waitFor wakes on
// each write, so nothing polls.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	close(o.changed)
	o.changed = make(chan struct{})
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor waits until the output matches re, or done is closed (the writer
// is gone), or the deadline passes; it returns the submatches.
func (o *output) waitFor(re *regexp.Regexp, done <-chan struct{}) ([]string, error) {
	var m []string
	err := o.waitUntil(func(s string) bool {
		m = re.FindStringSubmatch(s)
		return m != nil
	}, done)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", re, err)
	}
	return m, nil
}

// waitLen waits until the output holds at least n bytes.
func (o *output) waitLen(n int, done <-chan struct{}) error {
	err := o.waitUntil(func(s string) bool { return len(s) >= n }, done)
	if err != nil {
		return fmt.Errorf("%d bytes: %w", n, err)
	}
	return nil
}

// waitUntil waits until ok(the output so far), or done is closed and the
// output is final, or the deadline passes.
func (o *output) waitUntil(ok func(string) bool, done <-chan struct{}) error {
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for {
		o.mu.Lock()
		met := ok(o.buf.String())
		changed := o.changed
		o.mu.Unlock()
		if met {
			return nil
		}
		select {
		case <-changed:
		case <-done:
			if ok(o.String()) {
				return nil
			}
			return errors.New("the process ended first")
		case <-timer.C:
			return fmt.Errorf("not there within %s", deadline)
		}
	}
}

// proc is a peer program running for a test, killed at the latest when the
// test ends.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdin          io.WriteCloser
	stdout, stderr *output
	done           chan struct{}
	err            error
}

// startProc starts argv with a pipe on stdin. env nil is this process's.
func startProc(t *testing.T, argv, env []string) *proc {
	t.Helper()
	p := &proc{name: strings.Join(argv, " "), stdout: newOutput(), stderr: newOutput(), done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	// Its own process group, so that a kill reaches what it started too
	// (socat's forked children, the shell of stamp.sh).
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A child left behind holding stdout must not keep Wait waiting.
	p.cmd.WaitDelay = 5 * time.Second
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stdin.Close()
		select {
		case <-p.done:
			return
		default:
		}
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	})
	return p
}

// wait waits for the process to exit by itself.
func (p *proc) wait() error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(deadline):
		return fmt.Errorf("%s did not exit within %s", p.name, deadline)
	}
}

// describe is what a failure message says about the process.
func (p *proc) describe() string {
	return fmt.Sprintf("%s\nstdout: %q\nstderr: %q", p.name, p.stdout.String(), p.stderr.String())
}

// checkReplies checks that out is exactly one stamped reply per request,
// in order, byte for byte.
func checkReplies(out string, requests ...string) error {
	rest := out
	for _, req := range requests {
		if !echo.IsPrefix([]byte(rest)) {
			return fmt.Errorf("no timestamp where the reply to %q should start: %q", req, out)
		}
		rest = rest[echo.PrefixLen:]
		if !strings.HasPrefix(rest, req) {
			return fmt.Errorf("the reply does not echo %q: %q", req, out)
		}
		rest = rest[len(req):]
	}
	if rest != "" {
		return fmt.Errorf("%q after the replies: %q", rest, out)
	}
	return nil
}

// replyLen is the length of the replies to requests.
func replyLen(requests ...string) int {
	n := 0
	for _, r := range requests {
		n += echo.PrefixLen + len(r)
	}
	return n
}

// serveInProcess runs 'socklab serve ARGS' in this process, as the
// command line would, until the test ends; it returns the address the
// server logged.
func serveInProcess(t *testing.T, args ...string) string {
	t.Helper()
	stop := make(chan struct{}, 1)
	stderr := newOutput()
	done := make(chan struct{})
	code := 0
	go func() {
		defer close(done)
		code = app.Main(context.Background(), append([]string{"socklab", "serve"}, args...),
			app.Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: stderr, Signals: stop})
	}()
	// Once it listens, it has parsed its flags.
	m, err := stderr.waitFor(regexp.MustCompile(`msg=listening .*addr=(\S+)`), done)
	if err != nil {
		t.Fatalf("socklab serve %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	t.Cleanup(func() {
		stop <- struct{}{}
		<-done
		if code != 0 {
			t.Errorf("socklab serve %s exited %d:\n%s", strings.Join(args, " "), code, stderr)
		}
	})
	return m[1]
}

// clientInProcess runs 'socklab client ARGS' in this process and returns
// its stdout; a non-zero exit fails the test.
func clientInProcess(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := app.Main(context.Background(), append([]string{"socklab", "client", "--timeout", "5s"}, args...),
		app.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
	if code != 0 {
		t.Fatalf("socklab client %s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
	}
	return stdout.String()
}

// needPeer finds a peer tool, and checks that nc is the OpenBSD one.
func needPeer(t *testing.T, tool string) {
	t.Helper()
	if tool == "nc" {
		needNC(t)
		return
	}
	testpeer.Need(t, tool, toolPackage[tool])
}

// needNC finds OpenBSD netcat: other netcats take other flags.
func needNC(t *testing.T) string {
	t.Helper()
	nc := testpeer.Need(t, "nc", "netcat-openbsd")
	out, _ := exec.Command(nc, "-h").CombinedOutput()
	if !bytes.Contains(out, []byte("OpenBSD netcat")) {
		testpeer.Missing(t, "nc is not OpenBSD netcat (nc -h says "+firstLine(out)+"): install the Debian package netcat-openbsd")
	}
	return nc
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return fmt.Sprintf("%q", s)
}

// needIPv6 skips a test of an IPv6 transport where ::1 is missing.
func needIPv6(t *testing.T, transport string) {
	t.Helper()
	if strings.HasSuffix(transport, "6") {
		if why := lab.IPv6Unavailable(); why != "" {
			t.Skip(why)
		}
	}
}

var nameSeq atomic.Int64

// uniqueName is a name no other test run uses: for abstract sockets and
// network namespaces.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s%d-%d", prefix, os.Getpid(), nameSeq.Add(1))
}

// expand replaces {key} in a command template by vars[key] and splits it
// into words as sh would: at spaces, except inside single quotes, which
// are removed. (README.md quotes the words with [::1] in them, which zsh
// would take for a glob.)
func expand(t *testing.T, template string, vars map[string]string) []string {
	t.Helper()
	s := template
	for k, v := range vars {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	if strings.ContainsAny(s, "{}") {
		t.Fatalf("unexpanded placeholder in %q", s)
	}
	var words []string
	var word strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, word.String())
				word.Reset()
			}
			inWord = false
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quote in %q", template)
	}
	if inWord {
		words = append(words, word.String())
	}
	return words
}

// copyExecutable copies testdata/name into dir with mode 0755.
func copyExecutable(t *testing.T, name, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}
