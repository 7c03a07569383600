package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/glamour"
	"github.com/charmbracelet/glamour/styles"
	"github.com/muesli/termenv"
	"github.com/socklab/socklab/lessons"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

func lessonsCommand(env Env) *cli.Command {
	raw := func() []cli.Flag {
		return []cli.Flag{&cli.BoolFlag{Name: "raw", Usage: "print the markdown itself, even on a terminal"}}
	}
	cmd := &cli.Command{
		Name:            "lessons",
		Usage:           "the article step by step: list the lessons, show one, mark it done",
		HideHelpCommand: true,
		Description: "'socklab lessons' lists the lessons and marks the ones done. On a terminal a lesson\n" +
			"is rendered; piped, or with --raw, it is printed as markdown. Progress is kept in\n" +
			"the user's config directory (socklab/lessons.json).",
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("unknown lessons command %q (commands: show, next, done)", c.Args().First())
			}
			return listLessons(env)
		},
		Subcommands: []*cli.Command{
			{
				Name:      "show",
				Usage:     "show a lesson, by number or name",
				ArgsUsage: "N|NAME [--raw]",
				Flags:     raw(),
				Action: func(c *cli.Context) error {
					l, rawOut, err := oneLesson(c)
					if err != nil {
						return err
					}
					return showLesson(env, l, rawOut)
				},
			},
			{
				Name:  "next",
				Usage: "show the first lesson not done yet",
				Flags: raw(),
				Action: func(c *cli.Context) error {
					args, rawOut, err := lessonArgs(c)
					if err != nil {
						return err
					}
					if len(args) > 0 {
						return usagef("lessons next takes no lesson, not %q", args[0])
					}
					return nextLesson(env, rawOut)
				},
			},
			{
				Name:      "done",
				Usage:     "mark a lesson done",
				ArgsUsage: "N|NAME",
				Action: func(c *cli.Context) error {
					l, _, err := oneLesson(c)
					if err != nil {
						return err
					}
					return markDone(env, l)
				},
			},
		},
	}
	for _, sub := range cmd.Subcommands {
		sub.OnUsageError = onUsageError
	}
	return cmd
}

// lessonArgs returns the positional arguments and whether --raw was given.
// urfave/cli stops parsing flags at the first argument, so "show 3 --raw"
// would leave "--raw" among the arguments: it is taken here instead, and any
// other flag after the lesson is an error rather than silently ignored.
func lessonArgs(c *cli.Context) ([]string, bool, error) {
	rawOut := c.Bool("raw")
	var args []string
	for _, a := range c.Args().Slice() {
		if name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") && name == "raw" {
			if !hasValue {
				rawOut = true
				continue
			}
			b, err := strconv.ParseBool(value)
			if err != nil {
				return nil, false, usagef("invalid value %q for flag -raw", value)
			}
			rawOut = b
			continue
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			return nil, false, usagef("flag provided but not defined: %s (lessons %s takes only --raw)", a, c.Command.Name)
		}
		args = append(args, a)
	}
	return args, rawOut, nil
}

// oneLesson resolves the one lesson a command names.
func oneLesson(c *cli.Context) (lessons.Lesson, bool, error) {
	args, rawOut, err := lessonArgs(c)
	if err != nil {
		return lessons.Lesson{}, false, err
	}
	all := lessons.List()
	switch len(args) {
	case 0:
		return lessons.Lesson{}, false, usagef("which lesson? give a number 1-%d or a name ('socklab lessons' lists them)", len(all))
	case 1:
	default:
		return lessons.Lesson{}, false, usagef("one lesson at a time, not %d (%s)", len(args), strings.Join(args, " "))
	}
	l, err := lessons.Find(args[0])
	if err != nil {
		return lessons.Lesson{}, false, usageError{err}
	}
	return l, rawOut, nil
}

func listLessons(env Env) error {
	p, err := loadProgress()
	if err != nil {
		return err
	}
	all := lessons.List()
	for _, l := range all {
		mark := "[ ]"
		if p.isDone(l) {
			mark = "[x]"
		}
		fmt.Fprintf(env.Stdout, "%s %2d  %s\n", mark, l.Number, l.Title)
	}
	fmt.Fprintf(env.Stdout, "\n%d of %d done. Read one with 'socklab lessons show N'; mark it with 'socklab lessons done N'.\n", p.count(all), len(all))
	if next, ok := p.next(all); ok {
		fmt.Fprintf(env.Stdout, "Next: socklab lessons show %d\n", next.Number)
	}
	return nil
}

func nextLesson(env Env, rawOut bool) error {
	p, err := loadProgress()
	if err != nil {
		return err
	}
	all := lessons.List()
	next, ok := p.next(all)
	if !ok {
		fmt.Fprintf(env.Stdout, "All %d lessons are done. 'socklab lessons show N' shows any of them again.\n", len(all))
		return nil
	}
	return showLesson(env, next, rawOut)
}

func markDone(env Env, l lessons.Lesson) error {
	p, err := loadProgress()
	if err != nil {
		return err
	}
	if !p.isDone(l) {
		p.Done = append(p.Done, l.Slug)
		if err := p.save(); err != nil {
			return err
		}
	}
	all := lessons.List()
	fmt.Fprintf(env.Stdout, "Lesson %d (%s) is done: %d of %d.\n", l.Number, l.Title, p.count(all), len(all))
	if next, ok := p.next(all); ok {
		fmt.Fprintf(env.Stdout, "Next: socklab lessons show %d\n", next.Number)
	} else {
		fmt.Fprintln(env.Stdout, "That was the last one: every lesson is done.")
	}
	return nil
}

// showLesson prints a lesson: rendered for a terminal, or the markdown
// itself when stdout is not a terminal or rawOut is set.
func showLesson(env Env, l lessons.Lesson, rawOut bool) error {
	f, ok := env.Stdout.(*os.File)
	if rawOut || !ok || !term.IsTerminal(int(f.Fd())) {
		_, err := io.WriteString(env.Stdout, l.Markdown())
		return err
	}
	width := 76
	if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 24 {
		// glamour indents the page; wrapping at the full width would let
		// the terminal wrap each long line a second time.
		width = min(w-4, 100)
	}
	out, err := renderLesson(forTerminal(l.Markdown()), width, termenv.NewOutput(f).EnvColorProfile())
	if err != nil {
		return fmt.Errorf("rendering lesson %d: %w", l.Number, err)
	}
	_, err = io.WriteString(env.Stdout, out)
	return err
}

// lessonLink is a link to another lesson, to a file beside the lessons,
// or to a file of the project.
var lessonLink = regexp.MustCompile(`\[([^\]]+)\]\(((\d\d)-[a-z0-9-]+\.md|\.\./[^)#\s]+|[\w.-]+\.\w+)(#[^)\s]*)?\)`)

// forTerminal adapts a lesson's markdown to a terminal: links become what
// to type (a lesson's 'socklab lessons show N', a file's path from the top
// of the project), since a terminal cannot follow them; and tabs become
// spaces, which glamour would otherwise count as one column.
func forTerminal(md string) string {
	md = lessonLink.ReplaceAllStringFunc(md, func(link string) string {
		m := lessonLink.FindStringSubmatch(link)
		text, target, number := m[1], m[2], m[3]
		switch {
		case number != "":
			n, _ := strconv.Atoi(number)
			return fmt.Sprintf("%s (`socklab lessons show %d`)", text, n)
		case strings.HasPrefix(target, "../"):
			target = strings.TrimPrefix(target, "../")
		default:
			target = "lessons/" + target
		}
		if text == target || "lessons/"+text == target {
			return "`" + target + "`"
		}
		return fmt.Sprintf("%s (`%s`)", text, target)
	})
	// A lesson may already say what to type after its link.
	md = repeatedShow.ReplaceAllString(md, "$1")
	return strings.ReplaceAll(joinSoftBreaks(md), "\t", "    ")
}

var repeatedShow = regexp.MustCompile("(\\(`socklab lessons show \\d+`\\)) \\(`socklab lessons show \\d+`\\)")

// joinSoftBreaks joins the lines of each paragraph and list item outside
// code blocks: glamour keeps a source line break, so a paragraph would
// break both where glamour wraps it and where the source did.
func joinSoftBreaks(md string) string {
	var out []string
	fenced := false
	for _, line := range strings.Split(md, "\n") {
		text := strings.TrimSpace(line)
		if strings.HasPrefix(text, "```") {
			fenced = !fenced
		} else if !fenced && len(out) > 0 && continues(text) && joinable(out[len(out)-1]) {
			out[len(out)-1] += " " + text
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// joinable reports whether a line is prose that the next line may carry on.
func joinable(line string) bool {
	text := strings.TrimSpace(line)
	return text != "" && !strings.HasPrefix(text, "#") && !strings.HasPrefix(text, "|") &&
		!strings.HasPrefix(text, "```") && !strings.HasPrefix(text, "<!--") && !strings.HasSuffix(line, "  ")
}

// continues reports whether a line carries on the one before rather than
// starting a block of its own (a heading, a list item, a table, a quote).
func continues(text string) bool {
	if text == "" || strings.ContainsAny(text[:1], "#|-*+>") || strings.HasPrefix(text, "<!--") {
		return false
	}
	number, rest, ok := strings.Cut(text, ". ")
	_, err := strconv.Atoi(number)
	return !(ok && err == nil && rest != "")
}

// renderLesson renders markdown for a terminal width columns wide. The
// style is glamour's dark one unless $GLAMOUR_STYLE names another; it is
// never guessed by querying the terminal.
func renderLesson(md string, width int, profile termenv.Profile) (string, error) {
	style := glamour.WithStandardStyle(styles.DarkStyle)
	if s := os.Getenv("GLAMOUR_STYLE"); s != "" {
		style = glamour.WithStylePath(s)
	}
	r, err := glamour.NewTermRenderer(style, glamour.WithWordWrap(width), glamour.WithColorProfile(profile))
	if err != nil {
		return "", err
	}
	return r.Render(md)
}

// progress is which lessons are done, kept as their slugs so that a
// renumbering keeps them.
type progress struct {
	Done []string `json:"done"`
	path string
}

func progressPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no place to keep lesson progress: %w", err)
	}
	return filepath.Join(dir, "socklab", "lessons.json"), nil
}

func loadProgress() (*progress, error) {
	path, err := progressPath()
	if err != nil {
		return nil, err
	}
	p := &progress{path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading lesson progress: %w", err)
	}
	if err := json.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("reading lesson progress %s: %w (delete the file to start over)", path, err)
	}
	return p, nil
}

func (p *progress) isDone(l lessons.Lesson) bool { return slices.Contains(p.Done, l.Slug) }

func (p *progress) count(all []lessons.Lesson) int {
	n := 0
	for _, l := range all {
		if p.isDone(l) {
			n++
		}
	}
	return n
}

func (p *progress) next(all []lessons.Lesson) (lessons.Lesson, bool) {
	for _, l := range all {
		if !p.isDone(l) {
			return l, true
		}
	}
	return lessons.Lesson{}, false
}

// save writes the progress file all at once: a crash leaves the old file or
// the new one, never half of one.
func (p *progress) save() error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p.path), 0o700); err != nil {
		return fmt.Errorf("saving lesson progress: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p.path), ".lessons-*.json")
	if err != nil {
		return fmt.Errorf("saving lesson progress: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("saving lesson progress: %w", err)
	}
	if err := os.Rename(tmp.Name(), p.path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("saving lesson progress: %w", err)
	}
	return nil
}
