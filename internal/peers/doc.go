// Package peers holds socklab's tests against real programs, none of them
// written for socklab: OpenBSD netcat (nc), socat and Python 3 as clients
// of a socklab server and as servers for 'socklab client'; strace watching
// the system calls that --trace names; and two network namespaces joined
// by a veth pair, playing two hosts. The package has no code of its own.
//
// A missing tool skips its test, naming the Debian package to install;
// under SOCKLAB_REQUIRE_PEERS=1 (as in CI) it fails instead.
package peers
