package app

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/muesli/termenv"
	"github.com/socklab/socklab/lessons"
)

func runLessons(t *testing.T, stdout io.Writer, args ...string) (code int, stderr string) {
	t.Helper()
	var errOut bytes.Buffer
	code = Main(context.Background(), append([]string{"socklab", "lessons"}, args...), Env{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: &errOut})
	return code, errOut.String()
}

// A mistake on the command line exits 2 with one line; a damaged progress
// file, which is not the command line's fault, exits 1.
func TestLessonsExitCodes(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"show", "99"}, 2, `socklab: no lesson "99" (valid: a number 1-`},
		{[]string{"show", "nonsense"}, 2, `socklab: no lesson "nonsense" (valid: `},
		{[]string{"show", "ipv7"}, 2, `socklab: no lesson "ipv7" (valid: `},
		{[]string{"done", "0"}, 2, `socklab: no lesson "0" (valid: `},
		{[]string{"show"}, 2, "socklab: which lesson?"},
		{[]string{"show", "1", "2"}, 2, "socklab: one lesson at a time"},
		{[]string{"show", "1", "--rwa"}, 2, "socklab: flag provided but not defined: --rwa"},
		{[]string{"show", "1", "--raw=maybe"}, 2, `socklab: invalid value "maybe" for flag -raw`},
		{[]string{"show", "--bogus", "1"}, 2, "socklab: flag provided but not defined: -bogus"},
		{[]string{"next", "1"}, 2, "socklab: lessons next takes no lesson"},
		{[]string{"frob"}, 2, `socklab: unknown lessons command "frob"`},
		{[]string{"show", "1"}, 0, ""},
		{[]string{"show", "03"}, 0, ""},
		{[]string{"show", "03-address-families.md"}, 0, ""},
		{[]string{"show", "--raw", "17"}, 0, ""},
		{[]string{"next"}, 0, ""},
		{[]string{"show", "1", "--raw=false"}, 0, ""},
		{[]string{"done", "1"}, 0, ""},
		{[]string{"done", "clients-and-servers"}, 0, ""},
	} {
		code, stderr := runLessons(t, io.Discard, tc.args...)
		if code != tc.code || !strings.HasPrefix(stderr, tc.msg) || strings.Count(stderr, "\n") > 1 {
			t.Errorf("lessons %q: exit %d, stderr %q; want exit %d and one line starting %q", tc.args, code, stderr, tc.code, tc.msg)
		}
	}

	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	if err := os.MkdirAll(filepath.Join(dir, "socklab"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "socklab", "lessons.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, stderr := runLessons(t, io.Discard); code != 1 || !strings.Contains(stderr, "delete the file to start over") {
		t.Errorf("damaged progress: exit %d, %q", code, stderr)
	}
}

// Progress survives between runs, keyed by the lessons' names.
func TestLessonsProgress(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	all := lessons.List()
	for _, l := range all[:len(all)-1] {
		if code, stderr := runLessons(t, io.Discard, "done", l.Slug); code != 0 {
			t.Fatalf("done %s: %d %s", l.Slug, code, stderr)
		}
	}
	var out bytes.Buffer
	if code, _ := runLessons(t, &out, "next"); code != 0 || out.String() != all[len(all)-1].Markdown() {
		t.Errorf("next after all but the last: exit %d, %.80q", code, out.String())
	}
	out.Reset()
	runLessons(t, &out)
	if got := strings.Count(out.String(), "[x]"); got != len(all)-1 {
		t.Errorf("list shows %d done, want %d:\n%s", got, len(all)-1, out.String())
	}
}

// showOnTerminal runs 'socklab lessons' with args with stdout on a
// terminal, and returns what the terminal received.
func showOnTerminal(t *testing.T, cols uint16, args ...string) string {
	t.Helper()
	tty, ctrl := openPTY(t, cols)
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(ctrl) // ends with EIO once the tty side is closed
		got <- string(b)
	}()
	code, stderr := runLessons(t, tty, args...)
	tty.Close()
	if code != 0 {
		t.Fatalf("lessons %q on a terminal: exit %d, %s", args, code, stderr)
	}
	select {
	case s := <-got:
		// The terminal turns each "\n" into "\r\n".
		return strings.ReplaceAll(s, "\r\n", "\n")
	case <-time.After(30 * time.Second):
		t.Fatal("the terminal's output did not end")
		return ""
	}
}

// On a terminal a lesson is rendered: styled, wrapped to the terminal's
// width, no markdown fences left; --raw prints the markdown itself.
func TestShowRendersOnATerminal(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("GLAMOUR_STYLE", "")
	l, err := lessons.Find("1")
	if err != nil {
		t.Fatal(err)
	}
	out := showOnTerminal(t, 60, "show", "1")
	if !strings.Contains(out, "\x1b[") {
		t.Errorf("no terminal styling in the rendered lesson:\n%.300q", out)
	}
	plain := stripANSI(out)
	for _, want := range []string{"Clients and servers", "Goal", "socklab client -m hello"} {
		if !strings.Contains(plain, want) {
			t.Errorf("the rendered lesson lacks %q", want)
		}
	}
	if strings.Contains(plain, "```") || strings.Contains(plain, "<!-- excerpt") {
		t.Errorf("markdown left in the rendered lesson:\n%s", plain)
	}
	for _, line := range strings.Split(plain, "\n") {
		// Prose is wrapped to the width; code may run past it.
		if len([]rune(line)) > 60 && !strings.Contains(line, "time=") && !strings.Contains(line, "func") {
			t.Errorf("a line wider than the terminal's 60 columns: %q", line)
			break
		}
	}

	raw := showOnTerminal(t, 60, "show", "1", "--raw")
	if raw != l.Markdown() {
		t.Errorf("--raw on a terminal is not the markdown itself: %.200q", raw)
	}
}

func TestRenderLessonPlain(t *testing.T) {
	out, err := renderLesson("# Title\n\nSome *text* to wrap, long enough to need wrapping at forty columns.\n", 40, termenv.Ascii)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Title") || strings.Contains(out, "*text*") {
		t.Errorf("rendered %q", out)
	}
	for _, line := range strings.Split(stripANSI(out), "\n") {
		if len(line) > 40 {
			t.Errorf("line %q is wider than 40", line)
		}
	}
}

func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// On a terminal, links become what to type and tabs become spaces.
func TestForTerminal(t *testing.T) {
	md := "Next: [Sockets](02-sockets.md) and [the trace](16-reading-the-trace.md#columns),\n" +
		"see [echo/stamp.go](../echo/stamp.go), [claims](claims_test.go), [Go](https://go.dev).\n" +
		"\n1. A list item\n   that wraps.\n2. Then [Next](03-x.md) (`socklab lessons show 3`)\n\n" +
		"```go\nfunc f() {\n\treturn\n}\n```\n"
	want := "Next: Sockets (`socklab lessons show 2`) and the trace (`socklab lessons show 16`), " +
		"see `echo/stamp.go`, claims (`lessons/claims_test.go`), [Go](https://go.dev).\n" +
		"\n1. A list item that wraps.\n2. Then Next (`socklab lessons show 3`)\n\n" +
		"```go\nfunc f() {\n    return\n}\n```\n"
	if got := forTerminal(md); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
