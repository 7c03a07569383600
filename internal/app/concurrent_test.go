package app

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
)

// Main may run in several goroutines at once: urfave/cli's shared help
// flag is written only while one run parses.
func TestMainConcurrently(t *testing.T) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out bytes.Buffer
			if code := Main(context.Background(), []string{"socklab", "lessons", "show", "1", "--raw"}, Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out}); code != 0 {
				t.Errorf("exit %d: %s", code, out.String())
			}
		}()
	}
	wg.Wait()
}
