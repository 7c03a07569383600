package transports_test

import (
	"context"
	"github.com/socklab/socklab/internal/testkit"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/socklab/socklab/echo"
	"github.com/socklab/socklab/lab"
	"github.com/socklab/socklab/transports"
)

// A server on [::] takes IPv4 clients too (dual stack) unless it is
// IPv6-only. The clients talk to 127.0.0.1 only.
func TestDualStack(t *testing.T) {
	if why := lab.IPv6Unavailable(); why != "" {
		t.Skip(why)
	}
	for _, api := range transports.APIs() {
		for _, pair := range [][2]string{{"tcp6", "tcp"}, {"udp6", "udp"}} {
			server, _ := transports.Lookup(api, pair[0])
			client, _ := transports.Lookup(api, pair[1])
			for _, v6only := range []bool{false, true} {
				name := api + "/" + pair[0] + "/dual-stack"
				if v6only {
					name = api + "/" + pair[0] + "/ipv6-only"
				}
				t.Run(name, func(t *testing.T) {
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					srv, err := echo.Start(ctx, server, "[::]:0", transports.Options{IPv6Only: v6only}, echo.Config{})
					if err != nil {
						t.Fatal(err)
					}
					defer srv.Wait()
					defer cancel()
					_, port, _ := net.SplitHostPort(srv.Addr.String())
					v4 := net.JoinHostPort("127.0.0.1", port)
					c, err := echo.Dial(ctx, client, v4, transports.Options{}, echo.ClientConfig{Timeout: dualStackWait(v6only), Retries: 0})
					if err == nil {
						defer c.Close()
						_, err = c.Exchange([]byte("over IPv4"))
					}
					if v6only && err == nil {
						t.Fatal("an IPv6-only server answered an IPv4 client")
					}
					if !v6only && err != nil {
						t.Fatalf("a dual-stack server did not answer an IPv4 client: %v", err)
					}
				})
			}
		}
	}
}

// dualStackWait is how long a datagram client waits: long where a reply is
// due, short where none may come (TCP is refused at once either way).
func dualStackWait(v6only bool) time.Duration {
	if v6only {
		return 500 * time.Millisecond
	}
	return lab.Timeout
}

// A zoned address parses and works: the zone of ::1 is the loopback
// interface.
func TestZonedAddress(t *testing.T) {
	if why := lab.IPv6Unavailable(); why != "" {
		t.Skip(why)
	}
	lo := loopbackInterface(t)
	for _, api := range transports.APIs() {
		for _, name := range []string{"tcp6", "udp6"} {
			tr, _ := transports.Lookup(api, name)
			t.Run(api+"/"+name, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				srv, err := echo.Start(ctx, tr, "[::1%"+lo+"]:0", transports.Options{}, echo.Config{})
				if err != nil {
					t.Fatal(err)
				}
				defer srv.Wait()
				defer cancel()
				_, port, _ := net.SplitHostPort(srv.Addr.String())
				c, err := echo.Dial(ctx, tr, "[::1%"+lo+"]:"+port, transports.Options{}, echo.ClientConfig{Timeout: lab.Timeout})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if _, err := c.Exchange([]byte("zoned")); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func loopbackInterface(t *testing.T) string {
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 {
			return i.Name
		}
	}
	t.Skip("no loopback interface")
	return ""
}

// The default socket directory is used only if it is private: ours, and
// closed to others. One someone else made first is refused, untouched.
func TestDefaultSocketDirMustBePrivate(t *testing.T) {
	run := testkit.SocketDir(t)
	t.Setenv("XDG_RUNTIME_DIR", run)
	dir := filepath.Join(run, "socklab")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777) // past the umask
	for _, api := range transports.APIs() {
		tr, _ := transports.Lookup(api, "unix")
		ln, err := tr.Listen(context.Background(), tr.DefaultAddr(), transports.Options{})
		if err == nil {
			ln.Close()
			t.Fatalf("%s: listened in a directory open to everyone", api)
		}
		if !strings.Contains(err.Error(), "is open to others (mode -rwxrwxrwx)") {
			t.Fatalf("%s: %v", api, err)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o777 {
		t.Fatalf("the directory was changed: %v %v", fi.Mode(), err)
	}
}
