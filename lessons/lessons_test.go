package lessons_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/socklab/socklab/lessons"
)

// TestList checks that the embedded lessons are the files on disk, numbered
// 1, 2, 3... without a gap, with distinct slugs and a title each.
func TestList(t *testing.T) {
	onDisk, err := filepath.Glob("[0-9][0-9]-*.md")
	if err != nil {
		t.Fatal(err)
	}
	all := lessons.List()
	if len(all) != len(onDisk) {
		t.Fatalf("%d lessons embedded, %d files on disk", len(all), len(onDisk))
	}
	seen := map[string]bool{}
	for i, l := range all {
		if l.Number != i+1 {
			t.Errorf("lesson %d is numbered %d: want 1, 2, 3... in order", i+1, l.Number)
		}
		if l.File() != onDisk[i] {
			t.Errorf("lesson %d is %s, want %s", i+1, l.File(), onDisk[i])
		}
		if seen[l.Slug] {
			t.Errorf("two lessons are called %s", l.Slug)
		}
		seen[l.Slug] = true
		b, err := os.ReadFile(l.File())
		if err != nil {
			t.Fatal(err)
		}
		if l.Markdown() != string(b) {
			t.Errorf("%s: embedded text differs from the file", l.File())
		}
		if l.Title == "" || strings.HasPrefix(l.Title, "#") {
			t.Errorf("%s: title %q", l.File(), l.Title)
		}
	}
}

func TestFind(t *testing.T) {
	all := lessons.List()
	third := all[2]
	for _, ref := range []string{"3", "03", third.Slug, third.Name, third.File(), strings.ToUpper(third.Slug)} {
		l, err := lessons.Find(ref)
		if err != nil || l != third {
			t.Errorf("Find(%q) = %v, %v; want lesson 3", ref, l, err)
		}
	}
	for _, ref := range []string{"0", "-1", strconv.Itoa(len(all) + 1), "", "no-such-lesson", "3x"} {
		_, err := lessons.Find(ref)
		if err == nil {
			t.Errorf("Find(%q) found a lesson", ref)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.Contains(msg, fmt.Sprintf("1-%d", len(all))) || !strings.Contains(msg, all[0].Slug) || !strings.Contains(msg, all[len(all)-1].Slug) {
			t.Errorf("Find(%q): error %q should be one line naming the valid lessons", ref, msg)
		}
	}
}

// TestStructure checks that every lesson has the parts a lesson has, and
// links to the next one.
func TestStructure(t *testing.T) {
	all := readLessons(t)
	for i, lf := range all {
		for _, h := range []string{"## Goal", "## The idea", "## Run it", "## The code", "## Try it"} {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(h) + `$`).MatchString(lf.text) {
				t.Errorf("%s: no %q section", lf.path, h)
			}
		}
		cmds, err := transcripts(lf)
		if err != nil {
			t.Errorf("%s: %v", lf.path, err)
		}
		if len(cmds) == 0 {
			t.Errorf("%s: no \"$ socklab\" command to run", lf.path)
		}
		if !slices.ContainsFunc(lf.blocks, func(b codeBlock) bool { return b.lang == "go" }) {
			t.Errorf("%s: no Go excerpt", lf.path)
		}
		if i+1 < len(all) {
			next := all[i+1].File()
			if !strings.Contains(lf.text, "Next: ["+all[i+1].Title+"]("+next+")") {
				t.Errorf("%s: no \"Next: [%s](%s)\" link", lf.path, all[i+1].Title, next)
			}
		}
	}
}

// TestTranscriptsAreScripted checks that every "$ socklab" command of a
// lesson is run, in order, by the lesson's script, and that the script
// asserts exactly the output the lesson shows. TestScripts in main_test.go
// runs the scripts themselves.
func TestTranscriptsAreScripted(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(scriptDir, "lesson_*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	byNumber := map[int]string{}
	for _, p := range paths {
		m := regexp.MustCompile(`^lesson_(\d\d)_\w+\.txtar$`).FindStringSubmatch(filepath.Base(p))
		if m == nil {
			t.Errorf("%s: want a name like lesson_NN_slug.txtar", p)
			continue
		}
		n, _ := strconv.Atoi(m[1])
		if byNumber[n] != "" {
			t.Errorf("two scripts for lesson %d: %s and %s", n, byNumber[n], p)
		}
		byNumber[n] = p
	}
	all := readLessons(t)
	for n, p := range byNumber {
		if n < 1 || n > len(all) {
			t.Errorf("%s: there is no lesson %d", p, n)
		}
	}
	for _, lf := range all {
		t.Run(lf.Name, func(t *testing.T) {
			path := byNumber[lf.Number]
			if path == "" {
				t.Fatalf("%s: no script testdata/script/lesson_%02d_*.txtar runs its commands", lf.path, lf.Number)
			}
			for _, err := range checkLesson(lf, readScript(t, path)) {
				t.Error(err)
			}
		})
	}
}

// checkLesson checks a lesson's transcripts against its script.
func checkLesson(lf lessonFile, s script) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	cmds, err := transcripts(lf)
	if err != nil {
		return []error{fmt.Errorf("%s: %v", lf.path, err)}
	}
	marks, err := markedCommands(s)
	if err != nil {
		return []error{fmt.Errorf("%s: %v", s.path, err)}
	}
	errs = append(errs, checkTerminals(lf, cmds)...)
	for i, c := range cmds {
		if i >= len(marks) {
			fail("%s:%d: %q is not run: %s has only %d \"# lesson:\" commands", lf.path, c.line, c.text, s.path, len(marks))
			continue
		}
		m := marks[i]
		if !slices.Equal(m.args, c.args) {
			fail("%s:%d: lesson command %d is %q, but the script's (line %d) is %q", lf.path, c.line, i+1, c, m.line, strings.Join(quoteAll(m.args), " "))
			continue
		}
		if len(m.exec.args) == 0 || m.exec.args[0] != "socklab" {
			fail("%s:%d: the exec after the marker does not run socklab", s.path, m.line)
			continue
		}
		if err := checkExtras(c.args, m.exec.args); err != nil {
			fail("%s:%d: the exec of %q %v", s.path, m.line, c, err)
		}
		if err := checkOutput(c, m, s); err != nil {
			fail("%s:%d: %q (lesson line %d): %v", s.path, m.line, c, c.line, err)
		}
	}
	for _, m := range marks[min(len(cmds), len(marks)):] {
		fail("%s:%d: %q is not a command of %s (or not in the lesson's order)", s.path, m.line, strings.Join(quoteAll(m.args), " "), lf.path)
	}
	return errs
}

// checkTerminals checks that a lesson running a server says which terminal
// each command goes in.
func checkTerminals(lf lessonFile, cmds []command) []error {
	servers := slices.ContainsFunc(cmds, func(c command) bool {
		return len(c.args) > 1 && c.args[1] == "serve" && !slices.Contains(c.args, "--help")
	})
	if !servers {
		return nil
	}
	var errs []error
	for _, c := range cmds {
		if len(c.args) > 1 && (c.args[1] == "serve" || c.args[1] == "client") && !regexp.MustCompile(`^terminal \d\b`).MatchString(c.comment) {
			errs = append(errs, fmt.Errorf("%s:%d: %q: a lesson with a server says which terminal each command goes in: end the line with \"# terminal N\"", lf.path, c.line, c.text))
		}
	}
	return errs
}

// TestExcerpts checks that every Go block of a lesson is, byte for byte, a
// declaration of the file it names.
func TestExcerpts(t *testing.T) {
	for _, lf := range readLessons(t) {
		for _, b := range lf.blocks {
			if b.lang != "go" {
				continue
			}
			m := excerptMarker.FindStringSubmatch(b.marker)
			if m == nil {
				t.Errorf("%s:%d: a Go block must come right after <!-- excerpt: path/file.go#Name -->", lf.path, b.line)
				continue
			}
			want, err := declSource(m[1], m[2])
			if err != nil {
				t.Errorf("%s:%d: %v", lf.path, b.line, err)
				continue
			}
			got := strings.Join(b.lines, "\n")
			if got != want {
				t.Errorf("%s:%d: the excerpt of %s#%s differs from the source:\n%s", lf.path, b.line, m[1], m[2], showDiff(want, got))
			}
		}
	}
}

func TestLinks(t *testing.T) {
	for _, lf := range readLessons(t) {
		checkLinks(t, ".", lf.path, lf.text)
	}
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	checkLinks(t, ".", "README.md", string(b))
}
