// Package buildtest builds the project's binaries for tests that run them
// as processes.
package buildtest

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	dir   string               // the temporary folder of the binaries
	built = map[string]error{} // by binary path: the build's error
)

// Binary returns the path of the binary of the package pkg (an import
// path), built on the first call for it (with the race detector when race
// is true) and shared by every later call of the test binary. It fails t
// if the build fails.
func Binary(t testing.TB, pkg string, race bool) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if dir == "" {
		d, err := os.MkdirTemp("", "grantql-test-bin-")
		if err != nil {
			t.Fatalf("build %s: %v", pkg, err)
		}
		dir = d
	}
	name := path.Base(pkg)
	if race {
		name += "-race"
	}
	bin := filepath.Join(dir, name)
	err, done := built[bin]
	if !done {
		err = build(bin, pkg, race)
		built[bin] = err
	}
	if err != nil {
		t.Fatalf("build %s: %v", pkg, err)
	}
	return bin
}

func build(bin, pkg string, race bool) error {
	// go test puts its own go command first in PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("find the go command: %w", err)
	}
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	out, err := exec.Command(goTool, append(args, pkg)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}

// Cleanup removes the binaries Binary built; a TestMain calls it once the
// tests have run.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
		dir, built = "", map[string]error{}
	}
}
