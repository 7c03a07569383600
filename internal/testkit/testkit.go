// Package testkit holds small helpers that socklab's tests share.
package testkit

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// SocketDir is a fresh directory for socket files, removed when the test
// ends. t.TempDir's names can be too long for sun_path's 108 bytes.
func SocketDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Buffer is a bytes.Buffer that a server or a process writes while the
// test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// WaitFor waits until the buffer holds want: a log line can trail the
// event that causes it. It fails the test after a minute.
func (b *Buffer) WaitFor(t testing.TB, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("never written: %q; the buffer holds:\n%s", want, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
