package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/socklab/socklab/internal/app"
	"github.com/socklab/socklab/lab"
)

func TestMain(m *testing.M) {
	// Tests that need a real process with real signals run this test
	// binary as socklab itself.
	if os.Getenv("SOCKLAB_TEST_AS_MAIN") == "1" {
		main()
	}
	testscript.Main(m, map[string]func(){
		"socklab": func() {
			os.Exit(app.Main(context.Background(), os.Args, app.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
		},
	})
}

// TestScripts runs the command-line transcripts in testdata/script.
func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams("testdata/script"))
}

func scriptParams(dir string) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			// Default socket paths and lesson progress stay inside the
			// script's own directory.
			run := filepath.Join(env.WorkDir, "run")
			if err := os.Mkdir(run, 0o700); err != nil {
				return err
			}
			env.Setenv("XDG_RUNTIME_DIR", run)
			env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, "config"))
			env.Setenv("HOME", env.WorkDir)
			// A -race binary sleeps a second as it exits; scripts start
			// hundreds of them.
			env.Setenv("GORACE", "atexit_sleep_ms=0")
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "ipv6":
				return lab.IPv6Unavailable() == "", nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitfile": cmdWaitFile,
		},
	}
}

// cmdWaitFile waits for a server's --ready-file and puts the address it
// holds in an environment variable:
//
//	waitfile FILE VAR
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitfile FILE VAR")
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 {
			ts.Setenv(args[1], strings.TrimSpace(string(b)))
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not appear within 60s", args[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
