package lessons_test

// The staleness checks: every rule here is described for lesson writers in
// README.md ("How the lessons stay true").

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/diff"
	"github.com/rogpeppe/go-internal/txtar"
	"github.com/socklab/socklab/lessons"
)

// root is the module root, where excerpt paths start.
const root = ".."

// scriptDir holds the lessons' scripts, run by TestScripts in main_test.go.
var scriptDir = filepath.Join(root, "testdata", "script")

// ---- lessons as files ----

type lessonFile struct {
	lessons.Lesson
	path   string
	text   string
	blocks []codeBlock
}

type codeBlock struct {
	lang   string
	line   int    // 1-based line of the opening fence
	marker string // the line just before the fence
	lines  []string
}

func readLessons(t *testing.T) []lessonFile {
	t.Helper()
	var out []lessonFile
	for _, l := range lessons.List() {
		path := l.File()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lf := lessonFile{Lesson: l, path: path, text: string(b)}
		lf.blocks, err = codeBlocks(lf.text)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, lf)
	}
	if len(out) == 0 {
		t.Fatal("no lessons")
	}
	return out
}

// codeBlocks returns the fenced code blocks of a markdown text.
func codeBlocks(md string) ([]codeBlock, error) {
	var blocks []codeBlock
	var cur *codeBlock
	prev := ""
	for i, line := range strings.Split(md, "\n") {
		if cur != nil {
			if strings.TrimSpace(line) == "```" {
				blocks = append(blocks, *cur)
				cur = nil
			} else {
				cur.lines = append(cur.lines, line)
			}
			continue
		}
		if lang, ok := strings.CutPrefix(line, "```"); ok {
			cur = &codeBlock{lang: strings.TrimSpace(lang), line: i + 1, marker: strings.TrimSpace(prev)}
		}
		prev = line
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: code block never closed", cur.line)
	}
	return blocks, nil
}

// prose is the markdown outside code blocks.
func prose(md string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			in = !in
			b.WriteString("\n")
			continue
		}
		if !in {
			b.WriteString(line)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// ---- transcripts ----

// command is one "$ socklab ..." line of a lesson and the output shown
// after it.
type command struct {
	line    int // 1-based line in the lesson
	text    string
	args    []string // shell words, "socklab" first
	comment string   // a trailing "# ..." comment, without the "#"
	output  []string
}

func (c command) String() string { return strings.Join(quoteAll(c.args), " ") }

// transcripts returns the commands of a lesson's sh blocks, in order.
func transcripts(lf lessonFile) ([]command, error) {
	var cmds []command
	for _, b := range lf.blocks {
		if b.lang != "sh" {
			for i, l := range b.lines {
				if strings.HasPrefix(strings.TrimSpace(l), "$ socklab") {
					return nil, fmt.Errorf("line %d: a socklab command in a %q block: transcripts go in ```sh blocks", b.line+1+i, b.lang)
				}
			}
			continue
		}
		var cur *command
		for i, l := range b.lines {
			n := b.line + 1 + i
			if strings.HasPrefix(l, "$") {
				rest, ok := strings.CutPrefix(l, "$ ")
				if !ok || !strings.HasPrefix(rest, "socklab ") && rest != "socklab" {
					return nil, fmt.Errorf("line %d: %q: a transcript runs only socklab commands", n, l)
				}
				words, comment, err := shellWords(rest)
				if err != nil {
					return nil, fmt.Errorf("line %d: %v", n, err)
				}
				if cur != nil {
					cmds = append(cmds, *cur)
				}
				cur = &command{line: n, text: rest, args: words, comment: comment}
				continue
			}
			if cur == nil {
				return nil, fmt.Errorf("line %d: %q before the first \"$ socklab\" line of the block", n, l)
			}
			cur.output = append(cur.output, l)
		}
		if cur == nil {
			return nil, fmt.Errorf("line %d: an sh block without a \"$ socklab\" command", b.line)
		}
		cmds = append(cmds, *cur)
	}
	return cmds, nil
}

// shellWords splits a command line as a POSIX shell would, without
// expanding anything: single quotes, double quotes, backslashes, and a
// trailing comment.
func shellWords(s string) (words []string, comment string, err error) {
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			return words, strings.TrimSpace(s[i+1:]), nil
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, "", fmt.Errorf("unterminated ' in %q", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				w.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, "", fmt.Errorf("unterminated \" in %q", s)
			}
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
			inWord = true
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, "", nil
}

func quoteAll(words []string) []string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = w
		if w == "" || strings.ContainsAny(w, " \t'\"\\#&|;<>()*?[]{}~") {
			q[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
	}
	return q
}

// ---- scripts ----

type script struct {
	path  string
	lines []string
	files map[string]string
}

func readScript(t *testing.T, path string) script {
	t.Helper()
	a, err := txtar.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := script{path: path, lines: strings.Split(string(a.Comment), "\n"), files: map[string]string{}}
	for _, f := range a.Files {
		s.files[f.Name] = string(f.Data)
	}
	return s
}

// scriptLine is one parsed line of a testscript.
type scriptLine struct {
	conds      []string
	neg        bool
	verb       string
	args       []string
	background string // the name of "&name&", or "&" alone
}

// parseScriptLine splits a line as testscript does (single quotes only,
// a doubled quote for a quote, # starts a comment), without expanding
// variables.
func parseScriptLine(line string) (scriptLine, error) {
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for i := 0; ; i++ {
		if !quoted && (i >= len(line) || line[i] == ' ' || line[i] == '\t' || line[i] == '#') {
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
			if i >= len(line) || line[i] == '#' {
				break
			}
			continue
		}
		if i >= len(line) {
			return scriptLine{}, fmt.Errorf("unterminated quote in %q", line)
		}
		inWord = true
		if line[i] == '\'' {
			if quoted && i+1 < len(line) && line[i+1] == '\'' {
				w.WriteByte('\'')
				i++
				continue
			}
			quoted = !quoted
			continue
		}
		w.WriteByte(line[i])
	}
	var sl scriptLine
	for len(words) > 0 && strings.HasPrefix(words[0], "[") && strings.HasSuffix(words[0], "]") {
		sl.conds = append(sl.conds, words[0])
		words = words[1:]
	}
	if len(words) > 0 && (words[0] == "!" || words[0] == "?") {
		sl.neg = words[0] == "!"
		words = words[1:]
	}
	if len(words) == 0 {
		return sl, nil
	}
	sl.verb, words = words[0], words[1:]
	if n := len(words); n > 0 && strings.HasPrefix(words[n-1], "&") && strings.HasSuffix(words[n-1], "&") {
		sl.background = strings.Trim(words[n-1], "&")
		if sl.background == "" {
			sl.background = "&"
		}
		words = words[:n-1]
	}
	sl.args = words
	return sl, nil
}

// markedCommand is a script's run of a lesson command: the "# lesson:"
// comment and what follows it.
type markedCommand struct {
	line    int // 1-based line of the marker
	args    []string
	exec    scriptLine
	ttyin   string // the file of "ttyin -stdin FILE", if any
	asserts []scriptLine
}

func markedCommands(s script) ([]markedCommand, error) {
	var out []markedCommand
	for i := 0; i < len(s.lines); i++ {
		text, ok := strings.CutPrefix(strings.TrimSpace(s.lines[i]), "# lesson:")
		if !ok {
			continue
		}
		words, _, err := shellWords(strings.TrimSpace(text))
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", i+1, err)
		}
		m := markedCommand{line: i + 1, args: words}
		j := i + 1
		for ; j < len(s.lines); j++ {
			l := strings.TrimSpace(s.lines[j])
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			sl, err := parseScriptLine(l)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", j+1, err)
			}
			if sl.verb == "ttyin" && len(sl.args) == 2 && sl.args[0] == "-stdin" {
				m.ttyin = sl.args[1]
				continue
			}
			if sl.verb == "stdin" {
				continue
			}
			if sl.verb != "exec" {
				return nil, fmt.Errorf("line %d: the line after %q must run it with exec", j+1, strings.TrimSpace(s.lines[i]))
			}
			m.exec = sl
			break
		}
		if j == len(s.lines) {
			return nil, fmt.Errorf("line %d: no exec after the marker", i+1)
		}
		// The output of a background command is read after "wait name".
		k := j + 1
		if bg := m.exec.background; bg != "" {
			for ; k < len(s.lines); k++ {
				sl, err := parseScriptLine(strings.TrimSpace(s.lines[k]))
				if err == nil && sl.verb == "wait" && (len(sl.args) == 1 && sl.args[0] == bg || len(sl.args) == 0) {
					break
				}
			}
			if k == len(s.lines) {
				return nil, fmt.Errorf("line %d: no \"wait %s\" for the background command", j+1, bg)
			}
			k++
		}
		for ; k < len(s.lines); k++ {
			l := strings.TrimSpace(s.lines[k])
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			sl, err := parseScriptLine(l)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", k+1, err)
			}
			if sl.verb != "stdout" && sl.verb != "stderr" && sl.verb != "ttyout" {
				break
			}
			m.asserts = append(m.asserts, sl)
		}
		out = append(out, m)
		i = j
	}
	return out, nil
}

// extraFlags are the flags a script may add after a lesson's command, each
// with its value: an address where the lesson relies on the default (a
// free port instead of 21567), and a ready file to wait for.
var extraFlags = map[string]bool{"--addr": true, "--ready-file": true}

// checkExtras reports whether script runs lesson with only allowed extras
// appended.
func checkExtras(lesson, script []string) error {
	if len(script) < len(lesson) || !slices.Equal(script[:len(lesson)], lesson) {
		return fmt.Errorf("runs %q, not the lesson's %q (extra flags may only be appended)", strings.Join(quoteAll(script), " "), strings.Join(quoteAll(lesson), " "))
	}
	extra := script[len(lesson):]
	for i := 0; i < len(extra); i += 2 {
		f := extra[i]
		if !extraFlags[f] || i+1 >= len(extra) {
			return fmt.Errorf("adds %q: a script may add only --addr VALUE and --ready-file VALUE", strings.Join(extra[i:], " "))
		}
		if f == "--addr" && slices.ContainsFunc(lesson, func(a string) bool {
			return a == "--addr" || a == "-a" || strings.HasPrefix(a, "--addr=") || a == "-addr"
		}) {
			return fmt.Errorf("adds --addr to a command that names its own address")
		}
	}
	return nil
}

// ---- expected output ----

// placeholders are the parts of shown output that differ from run to run;
// each is matched by a pattern instead of literally.
var placeholders = []struct {
	find    *regexp.Regexp
	replace func(m []string) string
}{
	// ctime, as in every reply: "Sat Nov 28 09:05:03 2026", "Sun Nov  1 ...".
	{regexp.MustCompile(`(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 1-3]\d \d\d:\d\d:\d\d \d{4}`),
		func([]string) string { return `\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}` }},
	// The log's time and a connection's duration.
	{regexp.MustCompile(`time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)`),
		func([]string) string { return `time=\S+` }},
	{regexp.MustCompile(`duration=\S+`), func([]string) string { return `duration=\S+` }},
	// A port on a loopback or wildcard address: scripts use free ports.
	{regexp.MustCompile(`(127\.0\.0\.1|\[::1\]|\[::\]|0\.0\.0\.0):\d+`),
		func(m []string) string { return regexp.QuoteMeta(m[1]) + `:\d+` }},
	// File descriptor numbers: "fd 7", a call's first argument as in
	// "recv(8, 1024)", and what socket and accept4 return.
	{regexp.MustCompile(`fd \d+`), func([]string) string { return `fd \d+` }},
	{regexp.MustCompile(`\b(socket|setsockopt|getsockopt|bind|listen|accept4?|getsockname|getpeername|connect|recv|recvfrom|send|sendall|sendto|shutdown|close|unix\.[A-Z]\w*)\((\d+)\b`),
		func(m []string) string { return regexp.QuoteMeta(m[1]) + `\(\d+` }},
	{regexp.MustCompile(`SOCK_CLOEXEC(, 0)?\) = \d+`), func(m []string) string { return `SOCK_CLOEXEC` + regexp.QuoteMeta(m[1]) + `\) = \d+` }},
	// A port in a Go struct literal of the syscall API's trace.
	{regexp.MustCompile(`Port: \d+`), func([]string) string { return `Port: \d+` }},
	// The abstract name a unixgram client binds.
	{regexp.MustCompile(`@socklab-client-\d+-[0-9a-f]+`), func([]string) string { return `@socklab-client-\d+-[0-9a-f]+` }},
	// Default socket paths: under $XDG_RUNTIME_DIR, which differs by user.
	{regexp.MustCompile(`(?:/[\w.-]+)+/socklab/(\w+)\.sock`), func(m []string) string { return `/\S*/socklab/` + m[1] + `\.sock` }},
}

var spaceRun = regexp.MustCompile(`  +`)

// lineRegexp is the pattern that one line of shown output stands for.
func lineRegexp(line string) string {
	var b strings.Builder
	literal := func(s string) {
		b.WriteString(spaceRun.ReplaceAllString(regexp.QuoteMeta(s), " +"))
	}
	for line != "" {
		best, bestAt := -1, len(line)
		var bestM []int
		for i, p := range placeholders {
			if m := p.find.FindStringSubmatchIndex(line); m != nil && m[0] < bestAt {
				best, bestAt, bestM = i, m[0], m
			}
		}
		if best < 0 {
			literal(line)
			break
		}
		literal(line[:bestAt])
		var groups []string
		for g := 0; g+1 < len(bestM); g += 2 {
			if bestM[g] >= 0 {
				groups = append(groups, line[bestM[g]:bestM[g+1]])
			} else {
				groups = append(groups, "")
			}
		}
		b.WriteString(placeholders[best].replace(groups))
		line = line[bestM[1]:]
	}
	return b.String()
}

// An item is one piece of shown output: a line, a prompt (an interactive
// "> " line, whose typed text goes to the terminal, not to stdout), or a
// gap ("..." in the lesson: lines left out).
type item struct {
	re         string
	prompt     bool
	gap        bool
	stdoutOnly bool
}

const (
	gapMid = `(?s:.*\n)?`
	gapEnd = `(?s:.*)`
)

// outputItems turns a command's shown output into items, and for an
// interactive command (prompts) the text typed at the terminal.
func outputItems(out []string, interactive bool) (items []item, typed string) {
	for _, l := range out {
		switch {
		case l == "...":
			if len(items) == 0 || !items[len(items)-1].gap {
				items = append(items, item{gap: true})
			}
		case interactive && (l == ">" || strings.HasPrefix(l, "> ")):
			items = append(items, item{re: `> `, prompt: true, stdoutOnly: true})
			typed += strings.TrimPrefix(strings.TrimPrefix(l, ">"), " ") + "\n"
		default:
			items = append(items, item{re: lineRegexp(l) + `\n`})
		}
	}
	return items, typed
}

// matchStreams reports whether the shown items are exactly the two
// patterns merged: every line in one stream or the other in order, every
// gap allowed in both. A nil pattern is a stream given no lines.
func matchStreams(items []item, out, errp *string) bool {
	type state struct{ i, a, b int }
	seen := map[state]bool{}
	strip := func(p *string) string {
		if p == nil {
			return ""
		}
		return strings.TrimSuffix(strings.TrimPrefix(*p, `\A`), `\z`)
	}
	po, pe := strip(out), strip(errp)
	var walk func(s state) bool
	walk = func(s state) bool {
		if seen[s] {
			return false
		}
		seen[s] = true
		if s.i == len(items) {
			return s.a == len(po) && s.b == len(pe)
		}
		it := items[s.i]
		if it.gap {
			// Each stream may take the gap or not.
			for _, da := range gapChoices(po[s.a:]) {
				for _, db := range gapChoices(pe[s.b:]) {
					if walk(state{s.i + 1, s.a + da, s.b + db}) {
						return true
					}
				}
			}
			return false
		}
		if strings.HasPrefix(po[s.a:], it.re) && walk(state{s.i + 1, s.a + len(it.re), s.b}) {
			return true
		}
		return !it.stdoutOnly && strings.HasPrefix(pe[s.b:], it.re) && walk(state{s.i + 1, s.a, s.b + len(it.re)})
	}
	return walk(state{})
}

func gapChoices(rest string) []int {
	c := []int{0}
	if strings.HasPrefix(rest, gapMid) {
		c = append(c, len(gapMid))
	}
	if rest == gapEnd {
		c = append(c, len(gapEnd))
	}
	return c
}

// wantPattern is the one pattern of a stream holding every item, for the
// message of a failing check.
func wantPattern(items []item) string {
	var b strings.Builder
	b.WriteString(`\A`)
	for i, it := range items {
		switch {
		case it.gap && i == len(items)-1:
			b.WriteString(gapEnd)
		case it.gap:
			b.WriteString(gapMid)
		default:
			b.WriteString(it.re)
		}
	}
	b.WriteString(`\z`)
	return "'" + strings.ReplaceAll(b.String(), "'", "''") + "'"
}

// checkOutput checks that a script asserts exactly the output a lesson
// shows for a command.
func checkOutput(c command, m markedCommand, s script) error {
	interactive := m.ttyin != ""
	items, typed := outputItems(c.output, interactive)
	if interactive {
		got, ok := s.files[m.ttyin]
		if !ok {
			return fmt.Errorf("ttyin file %s is not in the script's archive", m.ttyin)
		}
		if got != typed {
			return fmt.Errorf("the terminal input %s is %q; the lesson shows typing %q", m.ttyin, got, typed)
		}
	}
	if len(items) == 0 {
		return nil // the lesson shows no output: nothing to check
	}
	cands := map[string][]*string{"stdout": {nil}, "stderr": {nil}}
	negAny := map[string]bool{}
	for _, a := range m.asserts {
		if a.verb == "ttyout" || len(a.args) != 1 {
			continue
		}
		if a.neg {
			negAny[a.verb] = negAny[a.verb] || a.args[0] == "."
			continue
		}
		if strings.HasPrefix(a.args[0], `\A`) && strings.HasSuffix(a.args[0], `\z`) {
			p := a.args[0]
			cands[a.verb] = append(cands[a.verb], &p)
		}
	}
	hasGap := slices.ContainsFunc(items, func(it item) bool { return it.gap })
	for _, po := range cands["stdout"] {
		for _, pe := range cands["stderr"] {
			if !matchStreams(items, po, pe) {
				continue
			}
			// Shown in full: a stream with no lines shown must be empty.
			if !hasGap && po == nil && !negAny["stdout"] {
				return fmt.Errorf("the lesson shows all of the output and none of it on stdout: assert ! stdout .")
			}
			if !hasGap && pe == nil && !negAny["stderr"] {
				return fmt.Errorf("the lesson shows all of the output and none of it on stderr: assert ! stderr .")
			}
			return nil
		}
	}
	where := "after it"
	if m.exec.background != "" {
		where = "after \"wait " + m.exec.background + "\""
	}
	return fmt.Errorf("no assertions %s match the output the lesson shows (line %d); split it between the streams, e.g.\n\tstdout %s\n\tstderr %s",
		where, c.line, wantPattern(items), wantPattern(items))
}

// ---- excerpts ----

var excerptMarker = regexp.MustCompile(`^<!-- excerpt: (\S+?)#(\S+) -->$`)

// declSource returns the source text of a declaration in a Go file: a
// function, a method (Type.Method), or the declaration holding a type,
// const or var, each with its doc comment.
func declSource(path, name string) (string, error) {
	src, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		return "", err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
	if err != nil {
		return "", err
	}
	recv, fn, isMethod := strings.Cut(name, ".")
	if !isMethod {
		fn = name
	}
	var found []ast.Node
	var docs []*ast.CommentGroup
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Name.Name != fn {
				continue
			}
			if isMethod != (d.Recv != nil) || isMethod && receiverType(d) != recv {
				continue
			}
			found, docs = append(found, d), append(docs, d.Doc)
		case *ast.GenDecl:
			if isMethod {
				continue
			}
			for _, s := range d.Specs {
				var names []*ast.Ident
				switch s := s.(type) {
				case *ast.TypeSpec:
					names = []*ast.Ident{s.Name}
				case *ast.ValueSpec:
					names = s.Names
				}
				if slices.ContainsFunc(names, func(id *ast.Ident) bool { return id.Name == name }) {
					found, docs = append(found, d), append(docs, d.Doc)
				}
			}
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no declaration %s in %s", name, path)
	case 1:
	default:
		return "", fmt.Errorf("%d declarations %s in %s", len(found), name, path)
	}
	start := found[0].Pos()
	if docs[0] != nil {
		start = docs[0].Pos()
	}
	return string(src[fset.Position(start).Offset:fset.Position(found[0].End()).Offset]), nil
}

func receiverType(d *ast.FuncDecl) string {
	t := d.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	switch t := t.(type) {
	case *ast.IndexExpr:
		return fmt.Sprint(t.X)
	case *ast.IndexListExpr:
		return fmt.Sprint(t.X)
	}
	return fmt.Sprint(t)
}

// ---- links ----

var (
	inlineCode = regexp.MustCompile("`[^`\n]*`")
	linkRE     = regexp.MustCompile(`\[[^\]]*\]\(([^)\s]+)\)`)
	headingRE  = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
)

// anchors are the ids GitHub gives a markdown file's headings.
func anchors(md string) map[string]bool {
	ids := map[string]bool{}
	for _, m := range headingRE.FindAllStringSubmatch(prose(md), -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(m[1])) {
			switch {
			case r == ' ' || r == '-':
				b.WriteRune('-')
			case r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127:
				b.WriteRune(r)
			}
		}
		id := b.String()
		for n := 0; ; n++ {
			k := id
			if n > 0 {
				k += "-" + strconv.Itoa(n)
			}
			if !ids[k] {
				ids[k] = true
				break
			}
		}
	}
	return ids
}

// checkLinks checks every relative link of a markdown file in dir.
func checkLinks(t testing.TB, dir, name, md string) {
	t.Helper()
	text := inlineCode.ReplaceAllString(prose(md), "")
	for _, m := range linkRE.FindAllStringSubmatch(text, -1) {
		target := m[1]
		if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		file, frag, _ := strings.Cut(target, "#")
		path := filepath.Join(dir, file)
		if file == "" {
			path = filepath.Join(dir, name)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			if fi, serr := os.Stat(path); serr == nil && fi.IsDir() && frag == "" {
				continue
			}
			t.Errorf("%s: link %s: %v", name, target, err)
			continue
		}
		if frag != "" && strings.HasSuffix(path, ".md") && !anchors(string(b))[frag] {
			t.Errorf("%s: link %s: no heading #%s in %s", name, target, frag, file)
		}
	}
}

func showDiff(want, got string) string {
	return string(diff.Diff("lesson", []byte(got), "source", []byte(want)))
}
