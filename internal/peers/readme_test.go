package peers_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readmeSection is the README.md section whose commands these tests run.
const readmeSection = "## Talking to socklab with nc and socat"

// readmeValues is what README.md writes where the tests put their own
// addresses: the default port, and one socket path and abstract name per
// Unix transport.
func readmeValues(transport string) map[string]string {
	v := map[string]string{"port": "21567", "dir": "/tmp", "stamp": "./stamp.sh"}
	suffix := map[string]string{"unix": "", "unixgram": "-dgram", "unixpacket": "-pkt"}[transport]
	v["path"] = "/tmp/echo" + suffix + ".sock"
	v["name"] = "echo" + suffix
	return v
}

// TestREADMECommandsAreTested checks that every nc and socat command in
// README.md's section "Talking to socklab with nc and socat" is one that
// TestPeerClients or TestPeerServers runs, and that the stamp.sh it shows
// is testdata/stamp.sh. SOCKLAB_README names another file to check.
func TestREADMECommandsAreTested(t *testing.T) {
	path := os.Getenv("SOCKLAB_README")
	if path == "" {
		path = filepath.Join("..", "..", "README.md")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), readmeSection+"\n")
	if !ok {
		t.Fatalf("%s has no section %q: the commands below are what it must show", path, readmeSection)
	}
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}

	tested := map[string]bool{}
	for _, c := range clientCases {
		tested[fill(c.cmd, readmeValues(c.transport))] = true
	}
	for _, c := range serverCases {
		tested[fill(c.cmd, readmeValues(c.transport))] = true
	}
	commands := 0
	inCode := false
	for line := range strings.Lines(section) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
			continue
		}
		if !inCode {
			continue
		}
		cmd, _, _ := strings.Cut(line, " #") // a comment at the end
		cmd = strings.TrimSpace(strings.TrimPrefix(cmd, "printf 'hello' | "))
		if !strings.HasPrefix(cmd, "nc ") && !strings.HasPrefix(cmd, "socat ") {
			continue
		}
		commands++
		if !tested[cmd] {
			t.Errorf("README.md: %q is not a command the tests run", cmd)
		}
	}
	if commands == 0 {
		t.Errorf("no nc or socat command found in README.md's %q", readmeSection)
	}

	script, err := os.ReadFile(filepath.Join("testdata", "stamp.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(script)) {
		if !strings.Contains(section, strings.TrimRight(line, "\n")) {
			t.Errorf("README.md's stamp.sh differs from testdata/stamp.sh: no line %q", line)
		}
	}
}

func fill(template string, vars map[string]string) string {
	for k, v := range vars {
		template = strings.ReplaceAll(template, "{"+k+"}", v)
	}
	return template
}
