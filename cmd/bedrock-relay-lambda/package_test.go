package main

import (
	"archive/zip"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// lambdaArch is the Lambda architecture name of a GOARCH.
var lambdaArch = map[string]string{"amd64": "x86_64", "arm64": "arm64"}

var (
	zipsOnce sync.Once
	zipsDir  string
	zipsErr  error
	zipsOut  []byte
)

// needTool skips the test when a tool is missing on a developer machine, and fails it in CI.
func needTool(t *testing.T, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if p := filepath.Join(goEnv(t, "GOPATH"), "bin", name); fileExists(p) {
			return p
		}
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (%s); CI must have it", name, install)
		}
		t.Skipf("%s is not installed: %s (this test fails instead when CI is set)", name, install)
	}
	return path
}

func goEnv(t *testing.T, key string) string {
	t.Helper()
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", key, err)
	}
	return strings.TrimSpace(string(out))
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// buildZips runs `make lambda` once per test binary into a temporary DIST and returns that directory.
func buildZips(t *testing.T) string {
	t.Helper()
	needTool(t, "make", "install GNU make")
	needTool(t, "zip", "install zip")
	zipsOnce.Do(func() {
		zipsDir, zipsErr = os.MkdirTemp("", "bedrock-relay-lambda-dist-")
		if zipsErr != nil {
			return
		}
		cmd := exec.Command("make", "-C", filepath.Join("..", ".."), "lambda", "DIST="+zipsDir)
		zipsOut, zipsErr = cmd.CombinedOutput()
	})
	if zipsErr != nil {
		t.Fatalf("make lambda: %v\n%s", zipsErr, zipsOut)
	}
	return zipsDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if zipsDir != "" {
		os.RemoveAll(zipsDir)
	}
	os.Exit(code)
}

// extractBootstrap checks that the zip holds exactly an executable bootstrap and writes it to dir.
func extractBootstrap(t *testing.T, zipPath, dir string) string {
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

func TestLambdaZips(t *testing.T) {
	dist := buildZips(t)
	for goarch, arch := range lambdaArch {
		t.Run(arch, func(t *testing.T) {
			bin := extractBootstrap(t, filepath.Join(dist, "bedrock-relay-lambda-"+arch+".zip"), t.TempDir())
			ef, err := elf.Open(bin)
			if err != nil {
				t.Fatalf("bootstrap is not an ELF executable: %v", err)
			}
			defer ef.Close()
			want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[goarch]
			if ef.Machine != want || ef.Type != elf.ET_EXEC {
				t.Errorf("bootstrap is %v %v, want %v ET_EXEC", ef.Machine, ef.Type, want)
			}
			for _, p := range ef.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("bootstrap asks for a dynamic loader; want a static binary (CGO_ENABLED=0)")
				}
			}
		})
	}
}
