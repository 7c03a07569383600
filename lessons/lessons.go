// Package lessons holds socklab's lessons: the article "Network Programming
// in Python" step by step, then past it, as markdown files embedded in the
// binary. A lesson is a file NN-slug.md whose first line is "# Title".
//
// How the lessons are kept true (every command run, every excerpt compared
// with its source) is described in README.md in this directory.
package lessons

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed [0-9][0-9]-*.md
var files embed.FS

// Lesson is one lesson file.
type Lesson struct {
	Number int    // 1, 2, ...: the NN of the file name
	Slug   string // the name without the number: "clients-and-servers"
	Name   string // the file name without ".md": "01-clients-and-servers"
	Title  string // the text of the first "# " heading
}

// File is the lesson's file name, e.g. "01-clients-and-servers.md".
func (l Lesson) File() string { return l.Name + ".md" }

var all = load()

func load() []Lesson {
	names, err := fs.Glob(files, "*.md")
	if err != nil {
		panic(err)
	}
	var ls []Lesson
	for _, file := range names {
		l, err := parse(file)
		if err != nil {
			panic("lessons: " + err.Error())
		}
		ls = append(ls, l)
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Number < ls[j].Number })
	return ls
}

func parse(file string) (Lesson, error) {
	name := strings.TrimSuffix(file, ".md")
	num, slug, ok := strings.Cut(name, "-")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n <= 0 || slug == "" {
		return Lesson{}, fmt.Errorf("%s: want a name like 01-slug.md", file)
	}
	b, err := files.ReadFile(file)
	if err != nil {
		return Lesson{}, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	title, ok := strings.CutPrefix(first, "# ")
	if !ok || strings.TrimSpace(title) == "" {
		return Lesson{}, fmt.Errorf("%s: the first line must be the title, \"# Title\"", file)
	}
	return Lesson{Number: n, Slug: slug, Name: name, Title: strings.TrimSpace(title)}, nil
}

// List returns every lesson in order.
func List() []Lesson { return append([]Lesson(nil), all...) }

// Find returns the lesson named by ref: its number ("3" or "03"), its slug
// ("address-families"), or its file name with or without ".md". The error
// says which names are valid.
func Find(ref string) (Lesson, error) {
	ref = strings.TrimSpace(ref)
	key := strings.ToLower(strings.TrimSuffix(ref, ".md"))
	if n, err := strconv.Atoi(key); err == nil {
		for _, l := range all {
			if l.Number == n {
				return l, nil
			}
		}
	}
	for _, l := range all {
		if key == l.Slug || key == l.Name {
			return l, nil
		}
	}
	return Lesson{}, fmt.Errorf("no lesson %q (valid: a number 1-%d or a name: %s)", ref, len(all), strings.Join(slugs(), ", "))
}

func slugs() []string {
	s := make([]string, len(all))
	for i, l := range all {
		s[i] = l.Slug
	}
	return s
}

// Markdown returns the lesson's text, exactly as the file holds it.
func (l Lesson) Markdown() string {
	b, err := files.ReadFile(l.File())
	if err != nil {
		// Every Lesson comes from the embedded files.
		panic("lessons: " + err.Error())
	}
	return string(b)
}
