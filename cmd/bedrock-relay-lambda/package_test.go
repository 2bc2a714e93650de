package main

import (
	"debug/elf"
	"os"
	"path/filepath"
	"testing"

	"github.com/bedrock-relay/bedrock-relay/internal/testlambda"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testlambda.Cleanup()
	os.Exit(code)
}

// TestLambdaZips checks what `make lambda` builds: for both packages and both architectures, a zip holding
// just an executable, static bootstrap for that machine.
func TestLambdaZips(t *testing.T) {
	for _, pkg := range []string{"bedrock-relay-lambda", "bedrock-relay-lambda-url"} {
		for goarch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
			arch := testlambda.Arch(goarch)
			t.Run(pkg+"-"+arch, func(t *testing.T) {
				bin := testlambda.ExtractBootstrap(t, testlambda.Zip(t, pkg, arch), t.TempDir())
				ef, err := elf.Open(bin)
				if err != nil {
					t.Fatalf("bootstrap is not an ELF executable: %v", err)
				}
				defer ef.Close()
				if ef.Machine != machine || ef.Type != elf.ET_EXEC {
					t.Errorf("bootstrap is %v %v, want %v ET_EXEC", ef.Machine, ef.Type, machine)
				}
				for _, p := range ef.Progs {
					if p.Type == elf.PT_INTERP {
						t.Errorf("bootstrap asks for a dynamic loader; want a static binary (CGO_ENABLED=0)")
					}
				}
				if filepath.Base(bin) != "bootstrap" {
					t.Errorf("extracted %s", bin)
				}
			})
		}
	}
}
