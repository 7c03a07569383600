// Package testpeer finds the real tools (nc, socat, python3, strace, ip)
// that tests use as peers. Without one a test skips, naming the Debian
// package to install; under SOCKLAB_REQUIRE_PEERS=1 (set by CI, which
// installs them) a missing tool fails the test instead.
package testpeer

import (
	"os"
	"os/exec"
	"testing"
)

// Required reports whether missing peers are failures rather than skips.
func Required() bool { return os.Getenv("SOCKLAB_REQUIRE_PEERS") == "1" }

// Need returns the path of tool, or skips (fails, when peers are required)
// naming the Debian package that provides it.
func Need(t testing.TB, tool, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err == nil {
		return path
	}
	Missing(t, tool+" not found: install the Debian package "+pkg)
	return ""
}

// Missing skips with why, or fails with it when peers are required.
func Missing(t testing.TB, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s (SOCKLAB_REQUIRE_PEERS=1)", why)
	}
	t.Skip(why)
}

// Root skips (fails, when peers are required) unless the test runs as
// root, which network namespaces need.
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root to create network namespaces")
	}
}
