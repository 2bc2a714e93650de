// Package testlambda is for the end-to-end tests of the Lambda packages (cmd/bedrock-relay-lambda and
// cmd/bedrock-relay-lambda-url): it finds or builds the zips `make lambda` makes, extracts a bootstrap, and
// runs it under the Lambda Runtime Interface Emulator (aws-lambda-rie, installed by .ci/install-rie).
//
// Building the zips is the slow part (a static build per package and architecture), so `make test` builds
// them once, before any suite, into the directory BEDROCK_RELAY_LAMBDA_DIST names; a test run without it
// (go test ./cmd/...) builds what it needs with `make lambda` once per test binary.
package testlambda

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DistEnv names the directory of prebuilt zips.
const DistEnv = "BEDROCK_RELAY_LAMBDA_DIST"

// Arch is the Lambda architecture name of a GOARCH ("" for one Lambda does not run).
func Arch(goarch string) string {
	return map[string]string{"amd64": "x86_64", "arm64": "arm64"}[goarch]
}

// HostArch is the Lambda architecture of this machine, the one the emulator can run.
func HostArch() string { return Arch(runtime.GOARCH) }

// NeedTool returns the path of a tool, looking in $(go env GOPATH)/bin too. A missing tool skips the test on a
// developer machine and fails it in CI.
func NeedTool(t testing.TB, name, install string) string {
	t.Helper()
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	if gopath, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		if p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", name); isFile(p) {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed (%s); CI must have it", name, install)
	}
	t.Skipf("%s is not installed: %s (this test fails instead when CI is set)", name, install)
	return ""
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

var (
	buildMu  sync.Mutex
	built    = map[string]error{} // zip path → the build's outcome
	buildDir string
)

// Zip returns the path of PKG-ARCH.zip (pkg bedrock-relay-lambda or bedrock-relay-lambda-url): the prebuilt
// one when BEDROCK_RELAY_LAMBDA_DIST holds it, else built now with `make lambda` (once per test binary).
func Zip(t testing.TB, pkg, arch string) string {
	t.Helper()
	name := pkg + "-" + arch + ".zip"
	if dir := os.Getenv(DistEnv); dir != "" {
		if p := filepath.Join(dir, name); isFile(p) {
			return p
		}
	}
	NeedTool(t, "make", "install GNU make")
	NeedTool(t, "zip", "install zip")
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir == "" {
		d, err := os.MkdirTemp("", "bedrock-relay-lambda-dist-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	p := filepath.Join(buildDir, name)
	err, done := built[p]
	if !done {
		root, rerr := repoRoot()
		if rerr != nil {
			t.Fatal(rerr)
		}
		start := time.Now()
		out, berr := exec.Command("make", "-C", root, "--no-print-directory", "DIST="+buildDir, p).CombinedOutput()
		if berr != nil {
			err = fmt.Errorf("make %s: %v\n%s", name, berr, out)
		} else {
			t.Logf("built %s in %.1fs (make test builds the zips once for all suites)", name, time.Since(start).Seconds())
		}
		built[p] = err
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Cleanup removes the zips built by Zip; call it from TestMain after m.Run.
func Cleanup() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
		buildDir = ""
	}
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isFile(filepath.Join(dir, "go.mod")) && isFile(filepath.Join(dir, "Makefile")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod and Makefile above the test's directory")
		}
		dir = parent
	}
}

// ExtractBootstrap checks that the zip holds exactly an executable bootstrap and writes it into dir.
func ExtractBootstrap(t testing.TB, zipPath, dir string) string {
	t.Helper()
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" {
		var names []string
		for _, f := range zr.File {
			names = append(names, f.Name)
		}
		t.Fatalf("%s holds %v, want just bootstrap", filepath.Base(zipPath), names)
	}
	f := zr.File[0]
	if mode := f.Mode(); !mode.IsRegular() || mode.Perm()&0o111 != 0o111 {
		t.Errorf("bootstrap mode in the zip = %v, want an executable regular file (Lambda runs it as is)", mode)
	}
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := filepath.Join(dir, "bootstrap")
	w, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, rc); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// LockedBuffer collects a process's output while it runs.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// RIE is a bootstrap running under the emulator.
type RIE struct {
	// URL is the emulator's invocation endpoint (one invocation at a time, as one Lambda instance).
	URL string
	// Logs is what the emulator and the function wrote.
	Logs *LockedBuffer
}

// StartRIE runs bootstrap under the emulator with exactly env (nothing of the developer's own environment),
// on free loopback ports, and waits for it to listen. It is stopped when the test ends, and its output
// logged when the test failed.
func StartRIE(t testing.TB, bootstrap string, env []string) *RIE {
	t.Helper()
	if runtime.GOOS != "linux" || HostArch() == "" {
		t.Skipf("the Lambda emulator runs linux/amd64 or linux/arm64 bootstraps; this is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	emulator := NeedTool(t, "aws-lambda-rie", "run .ci/install-rie")
	addr, apiAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(emulator, "--runtime-interface-emulator-address", addr, "--runtime-api-address", apiAddr, bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = env
	logs := &LockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() || testing.Verbose() {
			t.Logf("emulator and function output:\n%s", logs)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the emulator did not listen on %s: %v\n%s", addr, err, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &RIE{URL: "http://" + addr + "/2015-03-31/functions/function/invocations", Logs: logs}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// HostBootstrap is pkg's bootstrap for this machine's architecture, extracted from its zip into a directory
// of the test's; a machine the emulator cannot run, or one without the emulator, skips the test (fails it in
// CI).
func HostBootstrap(t testing.TB, pkg string) string {
	t.Helper()
	arch := HostArch()
	if runtime.GOOS != "linux" || arch == "" {
		t.Skipf("the Lambda emulator runs linux/amd64 or linux/arm64 bootstraps; this is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	NeedTool(t, "aws-lambda-rie", "run .ci/install-rie")
	return ExtractBootstrap(t, Zip(t, pkg, arch), t.TempDir())
}

// Session is the execution role's credentials, as Lambda gives them to a function.
type Session struct{ AccessKeyID, SecretAccessKey, SessionToken string }

// Env is a function's whole environment under the emulator: only what Lambda would give it (the region, the
// execution role's session, a timeout) and the endpoint every AWS call goes to (the sandbox), so nothing of
// the developer's own AWS setup leaks in; then extra (KEY=VALUE).
func Env(t testing.TB, region string, s Session, endpoint string, timeout time.Duration, extra ...string) []string {
	t.Helper()
	return append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"AWS_REGION=" + region,
		"AWS_ACCESS_KEY_ID=" + s.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretAccessKey,
		"AWS_SESSION_TOKEN=" + s.SessionToken,
		"AWS_ENDPOINT_URL=" + endpoint,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + strconv.Itoa(int(timeout.Seconds())),
	}, extra...)
}
