package lessons_test

// The checks of check_test.go must be able to fail: each test here breaks a
// real lesson, script or excerpt in memory and expects the check to say so.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// lessonNamed returns a real lesson and its script.
func lessonNamed(t *testing.T, name string) (lessonFile, script) {
	t.Helper()
	for _, lf := range readLessons(t) {
		if lf.Name == name {
			paths, err := filepath.Glob(filepath.Join(scriptDir, "lesson_"+name[:2]+"_*.txtar"))
			if err != nil || len(paths) != 1 {
				t.Fatalf("script of %s: %v %v", name, paths, err)
			}
			return lf, readScript(t, paths[0])
		}
	}
	t.Fatalf("no lesson %s", name)
	return lessonFile{}, script{}
}

// edited returns lf with its text edited, or fails if old is not in it.
func edited(t *testing.T, lf lessonFile, old, new string) lessonFile {
	t.Helper()
	if !strings.Contains(lf.text, old) {
		t.Fatalf("%s has no %q", lf.path, old)
	}
	lf.text = strings.Replace(lf.text, old, new, 1)
	var err error
	if lf.blocks, err = codeBlocks(lf.text); err != nil {
		t.Fatal(err)
	}
	return lf
}

func editedScript(t *testing.T, s script, old, new string) script {
	t.Helper()
	text := strings.Join(s.lines, "\n")
	if !strings.Contains(text, old) {
		t.Fatalf("%s has no %q", s.path, old)
	}
	s.lines = strings.Split(strings.Replace(text, old, new, 1), "\n")
	return s
}

func wantErr(t *testing.T, errs []error, pattern string) {
	t.Helper()
	re := regexp.MustCompile(pattern)
	for _, err := range errs {
		if re.MatchString(err.Error()) {
			return
		}
	}
	t.Errorf("no error matching %q; got %v", pattern, errs)
}

func TestCheckerPassesTheRealLessons(t *testing.T) {
	lf, s := lessonNamed(t, "09-tcp-client")
	if errs := checkLesson(lf, s); len(errs) > 0 {
		t.Fatalf("unedited lesson 9: %v", errs)
	}
}

func TestCheckerCatchesStaleOutput(t *testing.T) {
	lf, s := lessonNamed(t, "09-tcp-client")
	// A reply the program does not print.
	errs := checkLesson(edited(t, lf, "09:05:09 2026] two words", "09:05:09 2026] two birds"), s)
	wantErr(t, errs, `no assertions after it match the output the lesson shows`)
	// A line too many.
	errs = checkLesson(edited(t, lf, "[Sat Nov 28 09:05:09 2026] two words\n", "[Sat Nov 28 09:05:09 2026] two words\nand more\n"), s)
	wantErr(t, errs, `match the output`)
	// The log's lines swapped (a gap does not excuse the order).
	lf1, s1 := lessonNamed(t, "01-clients-and-servers")
	listening := "time=2026-11-28T09:05:01.000+01:00 level=INFO msg=listening transport=tcp api=net addr=127.0.0.1:21567 framing=chunk\n"
	connected := "time=2026-11-28T09:05:03.412+01:00 level=INFO msg=connected peer=127.0.0.1:52754\n"
	errs = checkLesson(edited(t, lf1, listening+connected, connected+listening), s1)
	wantErr(t, errs, `after "wait srv" match the output`)
}

func TestCheckerCatchesTyping(t *testing.T) {
	lf, s := lessonNamed(t, "09-tcp-client")
	errs := checkLesson(edited(t, lf, "> two words\n", "> two birds\n"), s)
	wantErr(t, errs, `the terminal input typed\.txt is .*; the lesson shows typing`)
}

func TestCheckerCatchesUnscriptedCommands(t *testing.T) {
	lf, s := lessonNamed(t, "01-clients-and-servers")
	// A command the script does not run.
	errs := checkLesson(edited(t, lf, "$ socklab client -m hello ", "$ socklab client -m hullo "), s)
	wantErr(t, errs, `lesson command 2 is "socklab client -m hullo", but the script's`)
	// A command added at the end.
	errs = checkLesson(edited(t, lf, "Next: socklab lessons show 2\n```", "Next: socklab lessons show 2\n$ socklab demo\n```"), s)
	wantErr(t, errs, `"socklab demo" is not run`)
	// A marked command that the lesson does not have.
	errs = checkLesson(lf, editedScript(t, s, "# lesson: socklab lessons done 1\nexec socklab lessons done 1", "# lesson: socklab lessons done 1\nexec socklab lessons done 1\n# lesson: socklab demo\nexec socklab demo"))
	wantErr(t, errs, `"socklab demo" is not a command of`)
	// Another program in a transcript, and a socklab command outside one.
	_, err := transcripts(edited(t, lf, "$ socklab lessons done 1", "$ ls -l"))
	if err == nil || !strings.Contains(err.Error(), "runs only socklab commands") {
		t.Errorf("an ls in a transcript: %v", err)
	}
	_, err = transcripts(edited(t, lf, "```sh\n$ socklab lessons done 1", "```text\n$ socklab lessons done 1"))
	if err == nil || !strings.Contains(err.Error(), "transcripts go in ```sh blocks") {
		t.Errorf("a socklab command in a text block: %v", err)
	}
	// A server command that does not say where it runs.
	errs = checkLesson(edited(t, lf, "$ socklab serve                                   # terminal 1", "$ socklab serve"), s)
	wantErr(t, errs, `says which terminal`)
}

func TestCheckerExtras(t *testing.T) {
	lesson := []string{"socklab", "client", "-m", "hello"}
	for _, tc := range []struct {
		script []string
		ok     bool
	}{
		{[]string{"socklab", "client", "-m", "hello"}, true},
		{[]string{"socklab", "client", "-m", "hello", "--addr", "$ADDR"}, true},
		{[]string{"socklab", "client", "-m", "hello", "--addr", "$ADDR", "--ready-file", "r"}, true},
		{[]string{"socklab", "client", "--addr", "$ADDR", "-m", "hello"}, false}, // not appended
		{[]string{"socklab", "client", "-m", "hello", "--timeout", "1s"}, false},
		{[]string{"socklab", "client", "-m", "hello", "--addr"}, false},
		{[]string{"socklab", "client", "-m", "hullo"}, false},
	} {
		if err := checkExtras(lesson, tc.script); (err == nil) != tc.ok {
			t.Errorf("checkExtras(%q, %q) = %v, want ok=%v", lesson, tc.script, err, tc.ok)
		}
	}
	own := []string{"socklab", "client", "--addr", "[::1]:21567", "-m", "hello"}
	if err := checkExtras(own, append(own, "--addr", "$ADDR")); err == nil {
		t.Error("--addr added to a command with an address of its own")
	}
}

func TestLineRegexp(t *testing.T) {
	for _, tc := range []struct{ shown, actual string }{
		{"[Sat Nov 28 09:05:03 2026] hello", "[Sun Nov  1 23:59:59 2026] hello"},
		{"time=2026-11-28T09:05:01.000+01:00 level=INFO msg=connected peer=127.0.0.1:52754", "time=2026-11-28T03:59:16.574Z level=INFO msg=connected peer=127.0.0.1:1"},
		{"trace: recv        32 bytes (buffer 4096) from 127.0.0.1:21567  (*net.TCPConn).Read()", "trace: recv        32 bytes (buffer 4096) from 127.0.0.1:4000     (*net.TCPConn).Read()"},
		{"trace: recv        recv(8, 1024) = 5      unix.Read(8, p)", "trace: recv        recv(12, 1024) = 5      unix.Read(12, p)"},
		{"addr=/run/user/1000/socklab/unix.sock", "addr=/tmp/x/run/socklab/unix.sock"},
	} {
		if re := lineRegexp(tc.shown); !regexp.MustCompile(`\A` + re + `\z`).MatchString(tc.actual) {
			t.Errorf("%q as %q does not match %q", tc.shown, re, tc.actual)
		}
	}
	for _, tc := range []struct{ shown, actual string }{
		{"[Sat Nov 28 09:05:03 2026] hello", "[Sat Nov 28 09:05:03 2026] hullo"},
		{"bytes_in=5 bytes_out=32", "bytes_in=5 bytes_out=33"},
		{"recv(8, 1024) = 5", "recv(8, 1024) = 6"},
		{"addr=/run/user/1000/socklab/unix.sock", "addr=/tmp/x/run/socklab/unixgram.sock"},
		{"a b", "a  b"},
	} {
		if re := lineRegexp(tc.shown); regexp.MustCompile(`\A` + re + `\z`).MatchString(tc.actual) {
			t.Errorf("%q as %q matches %q", tc.shown, re, tc.actual)
		}
	}
}

func TestMatchStreams(t *testing.T) {
	items, _ := outputItems([]string{"a", "b", "...", "c"}, false)
	p := func(s string) *string { return &s }
	for _, tc := range []struct {
		out, err *string
		ok       bool
	}{
		{p(`\Aa\nb\n(?s:.*\n)?c\n\z`), nil, true},
		{nil, p(`\Aa\nb\n(?s:.*\n)?c\n\z`), true},
		{p(`\Ab\n\z`), p(`\Aa\n(?s:.*\n)?c\n\z`), true},
		{p(`\Aa\nb\nc\n\z`), nil, true},                     // a stream may leave out a gap
		{p(`\Ab\na\n(?s:.*\n)?c\n\z`), nil, false},          // order
		{p(`\Aa\n(?s:.*\n)?c\n\z`), nil, false},             // a line missing
		{p(`\Aa\nb\n(?s:.*\n)?c\nd\n\z`), nil, false},       // a line more
		{p(`\Aa\nb\n(?s:.*\n)?c\n\z`), p(`\Ab\n\z`), false}, // a line twice
	} {
		if got := matchStreams(items, tc.out, tc.err); got != tc.ok {
			t.Errorf("matchStreams(%v, %v) = %v, want %v", deref(tc.out), deref(tc.err), got, tc.ok)
		}
	}
}

func deref(p *string) string {
	if p == nil {
		return "<none>"
	}
	return *p
}

func TestDeclSource(t *testing.T) {
	src, err := declSource("lessons/lessons.go", "Find")
	if err != nil || !strings.HasPrefix(src, "// Find returns the lesson named by ref") || !strings.HasSuffix(src, "}") {
		t.Fatalf("Find: %q, %v", src, err)
	}
	src, err = declSource("lessons/lessons.go", "Lesson.File")
	if err != nil || !strings.Contains(src, "func (l Lesson) File() string") {
		t.Fatalf("Lesson.File: %q, %v", src, err)
	}
	src, err = declSource("lessons/lessons.go", "Lesson")
	if err != nil || !strings.HasPrefix(src, "// Lesson is one lesson file.\ntype Lesson struct {") {
		t.Fatalf("Lesson: %q, %v", src, err)
	}
	for _, name := range []string{"NoSuchThing", "Lesson.NoSuchMethod", "File"} {
		if _, err := declSource("lessons/lessons.go", name); err == nil {
			t.Errorf("declSource found %s", name)
		}
	}
	// An excerpt one character off is caught.
	b, err := os.ReadFile("01-clients-and-servers.md")
	if err != nil {
		t.Fatal(err)
	}
	const exact, edited = "appendReply(dst, data)", "appendReply(dst, data )"
	if !strings.Contains(string(b), exact) {
		t.Fatalf("lesson 1's excerpt no longer holds %q to edit", exact)
	}
	blocks, _ := codeBlocks(strings.Replace(string(b), exact, edited, 1))
	checked := 0
	for _, bl := range blocks {
		m := excerptMarker.FindStringSubmatch(bl.marker)
		if m == nil || !strings.Contains(strings.Join(bl.lines, "\n"), edited) {
			continue
		}
		checked++
		want, err := declSource(m[1], m[2])
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(bl.lines, "\n") == want {
			t.Errorf("an edited excerpt of %s still equals its source", m[2])
		}
	}
	if checked != 1 {
		t.Fatalf("%d excerpts hold the edit, want 1", checked)
	}
}

func TestCheckLinksCatchesBrokenOnes(t *testing.T) {
	ft := &fakeT{}
	checkLinks(ft, ".", "x.md", "[a](01-clients-and-servers.md) [b](no-such.md) [c](01-clients-and-servers.md#no-such-heading) [d](01-clients-and-servers.md#the-code) `[e](in-code.md)`")
	if len(ft.errs) != 2 || !strings.Contains(ft.errs[0], "no-such.md") || !strings.Contains(ft.errs[1], "#no-such-heading") {
		t.Errorf("errors %q, want the two broken links", ft.errs)
	}
}

// fakeT records errors instead of failing.
type fakeT struct {
	testing.TB
	errs []string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}
