package transports

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// MaxSocketPath is the longest Unix socket path socklab accepts: sun_path
// is 108 bytes on Linux and C programs expect room for a terminating NUL.
const MaxSocketPath = 107

// IsAbstract reports whether a Unix address names Linux's abstract
// namespace ("@name"), which has no file on disk.
func IsAbstract(path string) bool { return len(path) > 0 && path[0] == '@' }

// DefaultSocketPath is the per-user socket path of a Unix transport: under
// $XDG_RUNTIME_DIR when it is set, else in a private directory in the temp
// dir whose name carries the uid, so two users never collide.
func DefaultSocketPath(name string) string {
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		return filepath.Join(dir, "socklab", name+".sock")
	}
	return filepath.Join(os.TempDir(), "socklab-"+strconv.Itoa(os.Getuid()), name+".sock")
}

// PrepareSocketPath makes path ready for bind(2) without ever destroying
// what is not ours: a missing path is fine; a socket nobody answers on is
// stale and removed; a live socket, or anything that is not a socket, is
// left alone and reported.
func PrepareSocketPath(network, path string) error {
	if IsAbstract(path) {
		return nil
	}
	if len(path) > MaxSocketPath {
		return fmt.Errorf("the path is %d bytes; a Unix socket path holds at most %d", len(path), MaxSocketPath)
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s is there, not a socket; refusing to touch it", describeMode(fi.Mode()))
	}
	c, err := net.DialTimeout(network, path, 2*time.Second)
	if err == nil {
		c.Close()
		return errors.New("another server is listening there")
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing a stale socket: %w", err)
		}
		return nil
	}
	return fmt.Errorf("a socket in use is there (%w); refusing to touch it", err)
}

func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsRegular():
		return "a regular file"
	}
	return "mode " + m.String()
}

// ensureDefaultDir creates the private directory of the default socket
// path; a path the user chose is used as given.
func ensureDefaultDir(name, path string) error {
	if path != DefaultSocketPath(name) {
		return nil
	}
	// Only the last directory is ours to make: a missing $XDG_RUNTIME_DIR
	// is an error to report, not a tree to create.
	dir := filepath.Dir(path)
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return checkPrivate(dir)
}

// checkPrivate refuses a socket directory that someone else could have
// made, or can write to: in the shared temp dir anyone may create
// socklab-<uid> first and swap the socket inside it.
func checkPrivate(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if owner, ok := ownerOf(fi); ok && owner != os.Getuid() {
		return fmt.Errorf("%s belongs to uid %d, not to you; refusing to put a socket in it", dir, owner)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s is open to others (mode %v); make it 0700 or remove it", dir, fi.Mode().Perm())
	}
	return nil
}

// socketFile remembers the socket file a server created, so that it removes
// that file and not one somebody put at the same path since.
type socketFile struct {
	path string
	fi   os.FileInfo
}

func newSocketFile(path string, mode uint32) (*socketFile, error) {
	if IsAbstract(path) {
		return nil, nil
	}
	if mode == 0 {
		mode = 0o600
	}
	if err := os.Chmod(path, fs.FileMode(mode)); err != nil {
		return nil, err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	return &socketFile{path: path, fi: fi}, nil
}

func (f *socketFile) remove() {
	if f == nil {
		return
	}
	if fi, err := os.Lstat(f.path); err == nil && os.SameFile(fi, f.fi) {
		os.Remove(f.path)
	}
}
