package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// relayBinary builds the bedrock-relay command once per test binary, for the tests that run it as a user
// would (the documented commands, several serve processes), and returns its path. It is built the way this
// test binary was (with -race under go test -race), so that it reuses the packages go test has compiled
// rather than compiling the dependencies a second time; the race detector then watches those processes too.
func relayBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "bedrock-relay-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "bedrock-relay")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		start := time.Now()
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			binErr = &buildError{err: err, out: out}
			return
		}
		t.Logf("built bedrock-relay in %.1fs (race detector: %v)", time.Since(start).Seconds(), raceEnabled)
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + string(e.out) }

// TestMain removes the binary relayBinary built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}
